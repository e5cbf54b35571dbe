/**
 * The holds races' and model tests' shared calls: the API's money and hold operations as plain
 * requests (with the moment each was sent and answered, by this machine's clock, which is also
 * PostgreSQL's), the two balances, and the books' checks. Amounts are bigint cents throughout.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Knex } from '@wallet/platform';
import { formatCents, parseCents, requestJson } from '@wallet/platform/testkit';
import { reconcileBalances } from '../../src/domain/reconcile-balances';

export type Body = Record<string, unknown>;

/** One answer, with when it was sent and when it came back (Date.now(), ms). */
export interface Timed {
  status: number;
  body: Body;
  sentAt: number;
  answeredAt: number;
}

export async function call(url: string, path: string, body?: unknown, key?: string): Promise<Timed> {
  const sentAt = Date.now();
  const response = await requestJson<Body>(`${url}${path}`, {
    ...(body === undefined ? {} : { body }),
    ...(key === undefined ? {} : { headers: { 'Idempotency-Key': key } }),
  });
  return { status: response.status, body: response.body, sentAt, answeredAt: Date.now() };
}

export const placeHold = (url: string, from: string, to: string, amount: bigint, expiresInSeconds: number, key: string = randomUUID()) =>
  call(url, '/holds', { from_user_id: from, to_user_id: to, amount: formatCents(amount), expires_in_seconds: expiresInSeconds }, key);

export const captureHold = (url: string, holdId: string, amount?: bigint, key: string = randomUUID()) =>
  call(url, `/holds/${holdId}/capture`, amount === undefined ? {} : { amount: formatCents(amount) }, key);

export const voidHold = (url: string, holdId: string, key: string = randomUUID()) => call(url, `/holds/${holdId}/void`, {}, key);

export const transfer = (url: string, from: string, to: string, amount: bigint, key?: string) =>
  call(url, '/transfer', { from_user_id: from, to_user_id: to, amount_to_transfer: formatCents(amount) }, key);

export const addMoney = (url: string, userId: string, amount: bigint, key?: string) =>
  call(url, '/add-money', { user_id: userId, amount: formatCents(amount) }, key);

/** The 2xx answer of a hold operation, or a failed assertion that shows the answer. */
export function expectStatus(answer: Timed, status: number): Body {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  return answer.body;
}

/** A problem's code (undefined for a success). */
export function codeOf(answer: Timed): string | undefined {
  return answer.status >= 400 ? String(answer.body.code) : undefined;
}

export async function balancesOf(url: string, userId: string): Promise<{ balance: bigint; available: bigint }> {
  const response = await requestJson<Body>(`${url}/users/${userId}/balance`);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return { balance: parseCents(String(response.body.balance)), available: parseCents(String(response.body.available_balance)) };
}

export async function holdOf(url: string, holdId: string): Promise<Body> {
  const response = await requestJson<Body>(`${url}/holds/${holdId}`);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body;
}

export async function assertReconciled(db: Knex): Promise<void> {
  const report = await reconcileBalances(db);
  assert.deepEqual(report.mismatches, [], JSON.stringify(report.mismatches.slice(0, 5)));
  assert.equal(report.ok, true);
}

/** The hold rows as stored (resolved_at and expires_at as text: compared by PostgreSQL, to the microsecond). */
export interface StoredHold {
  hold_id: string;
  status: string;
  amount_minor: string;
  captured_amount_minor: string | null;
  transfer_id: string | null;
  /** PostgreSQL's own verdict: resolved_at < expires_at (null while unresolved). */
  resolved_before_expiry: boolean | null;
  releases: string;
  holds: string;
  transfer_legs: string;
}

/** Each hold's row and its ledger entries: its one `hold` entry, its releases and its transfer's legs. */
export async function storedHolds(db: Knex, holdIds: readonly string[]): Promise<Map<string, StoredHold>> {
  const { rows } = await db.raw<{ rows: StoredHold[] }>(
    `SELECT h.hold_id, h.status, h.amount_minor::text, h.captured_amount_minor::text, h.transfer_id,
            h.resolved_at < h.expires_at AS resolved_before_expiry,
            (SELECT count(*) FROM transactions t WHERE t.hold_id = h.hold_id AND t.type = 'release')::text AS releases,
            (SELECT count(*) FROM transactions t WHERE t.hold_id = h.hold_id AND t.type = 'hold')::text AS holds,
            (SELECT count(*) FROM transactions t WHERE t.transfer_id = h.transfer_id)::text AS transfer_legs
       FROM holds h WHERE h.hold_id = ANY(?::uuid[])`,
    [[...holdIds]],
  );
  return new Map(rows.map((row) => [row.hold_id, row]));
}

/** Counts of each answer, "201" or "409 hold_expired", for failure messages. */
export function tally(answers: readonly Timed[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of answers) {
    const label = a.status >= 400 ? `${a.status} ${String(a.body.code)}` : String(a.status);
    counts[label] = (counts[label] ?? 0) + 1;
  }
  return counts;
}

export { seededRandom } from '@wallet/platform/testkit';

/** Shuffles in place with the given generator. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
