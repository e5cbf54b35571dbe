/**
 * A model-based run of the holds API: many concurrent clients send random holds, captures (whole
 * and partial), voids, transfers and add-money; an exact model is built from the answers alone,
 * and once every short hold's expiry has passed, every balance, available balance and hold status
 * the service shows must equal the model. Order-free facts only: a balance is its funding plus the
 * successful operations' amounts, whatever order they committed in; a hold is captured or voided
 * if and only if a capture or void of it was answered 200 (at most one ever is), otherwise
 * expired once its time has passed, otherwise held. Answers are checked one by one as well: a
 * refusal's code must agree with the hold's final state, a success must have been sent before
 * expiry and a hold_expired received after it (this machine's clock is also PostgreSQL's), and the
 * copies of a request sent twice at once with one key must get the same answer.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Knex } from '@wallet/platform';
import { formatCents, requestJson } from '@wallet/platform/testkit';
import { assertReconciled, balancesOf, codeOf, seededRandom, storedHolds, tally, type Body, type Timed } from './hold-calls';

export type ModelOp =
  | { op: 'hold'; from: string; to: string; amount: bigint; expiresIn: number }
  | { op: 'capture'; holdId: string; amount: bigint | undefined }
  | { op: 'void'; holdId: string }
  | { op: 'transfer'; from: string; to: string; amount: bigint }
  | { op: 'add-money'; userId: string; amount: bigint };

interface Logged {
  op: ModelOp;
  key: string | undefined;
  /** One answer per copy sent (two when the request was sent twice at once with one key). */
  answers: Timed[];
}

interface PlacedHold {
  holdId: string;
  from: string;
  to: string;
  amount: bigint;
  expiresAt: number;
}

/**
 * Sends one request to one of the services (the copies of a doubled request to different ones); may
 * retry (with the same key) as the variant allows.
 */
export type Sender = (clientIndex: number, copy: number, path: string, body: unknown, key: string | undefined) => Promise<Timed>;

export interface ModelRunOptions {
  users: string[];
  /** Each user's funding before the run (cents). */
  funding: bigint;
  operations: number;
  clients: number;
  seed: number;
  send: Sender;
  /** Share of operations sent with an Idempotency-Key (1: all, as a client that retries must). */
  keyedShare: number;
  /** Share of keyed operations sent twice at once, with the same key. */
  duplicateShare: number;
  /** Called after each operation is answered (the crash variant kills processes at set points). */
  onProgress?: (done: number) => Promise<void> | void;
}

export interface ModelRun {
  log: Logged[];
  holds: Map<string, PlacedHold>;
  funding: bigint;
  users: string[];
}

function paths(op: ModelOp): { path: string; body: Body } {
  switch (op.op) {
    case 'hold':
      return { path: '/holds', body: { from_user_id: op.from, to_user_id: op.to, amount: formatCents(op.amount), expires_in_seconds: op.expiresIn } };
    case 'capture':
      return { path: `/holds/${op.holdId}/capture`, body: op.amount === undefined ? {} : { amount: formatCents(op.amount) } };
    case 'void':
      return { path: `/holds/${op.holdId}/void`, body: {} };
    case 'transfer':
      return { path: '/transfer', body: { from_user_id: op.from, to_user_id: op.to, amount_to_transfer: formatCents(op.amount) } };
    case 'add-money':
      return { path: '/add-money', body: { user_id: op.userId, amount: formatCents(op.amount) } };
  }
}

/** The next random operation; captures and voids name holds placed so far, mostly recent ones (some still live). */
function nextOp(random: () => number, users: string[], placed: PlacedHold[]): ModelOp {
  const cents = (max: number) => 1n + BigInt(Math.floor(random() * max));
  const user = () => users[Math.floor(random() * users.length)]!;
  const pair = (): [string, string] => {
    const from = user();
    let to = user();
    while (to === from) to = user();
    return [from, to];
  };
  const someHold = (): PlacedHold | undefined => {
    if (placed.length === 0) return undefined;
    const recent = random() < 0.85 ? Math.max(0, placed.length - 150) : 0;
    return placed[recent + Math.floor(random() * (placed.length - recent))];
  };
  const r = random();
  const hold = r >= 0.3 && r < 0.62 ? someHold() : undefined;
  if (hold && r < 0.42) return { op: 'capture', holdId: hold.holdId, amount: undefined };
  // A part, now and then more than the hold (422 capture_exceeds_hold while it is live).
  if (hold && r < 0.52) return { op: 'capture', holdId: hold.holdId, amount: cents(Number(hold.amount) + 20) };
  if (hold) return { op: 'void', holdId: hold.holdId };
  if (r < 0.3) {
    const [from, to] = pair();
    // Most holds expire during the run (1-5 s); a tenth live for an hour and are still held at the end.
    return { op: 'hold', from, to, amount: cents(3_000), expiresIn: random() < 0.1 ? 3_600 : 1 + Math.floor(random() * 5) };
  }
  if (r < 0.93) {
    const [from, to] = pair();
    return { op: 'transfer', from, to, amount: cents(3_000) };
  }
  return { op: 'add-money', userId: user(), amount: cents(5_000) };
}

/** Runs the operations from `clients` concurrent clients and returns what every request was answered. */
export async function runModel(options: ModelRunOptions): Promise<ModelRun> {
  const random = seededRandom(options.seed);
  const run: ModelRun = { log: [], holds: new Map(), funding: options.funding, users: options.users };
  const placed: PlacedHold[] = [];
  let issued = 0;
  let done = 0;
  const client = async (clientIndex: number): Promise<void> => {
    while (issued < options.operations) {
      issued += 1;
      const op = nextOp(random, options.users, placed);
      const key = random() < options.keyedShare ? `model-${randomUUID()}` : undefined;
      const copies = key !== undefined && random() < options.duplicateShare ? 2 : 1;
      const { path, body } = paths(op);
      const answers = await Promise.all(Array.from({ length: copies }, (_, copy) => options.send(clientIndex, copy, path, body, key)));
      run.log.push({ op, key, answers });
      const first = answers[0]!;
      if (op.op === 'hold' && first.status === 201) {
        const hold = { holdId: String(first.body.hold_id), from: op.from, to: op.to, amount: op.amount, expiresAt: Date.parse(String(first.body.expires_at)) };
        placed.push(hold);
        run.holds.set(hold.holdId, hold);
      }
      done += 1;
      await options.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: options.clients }, (_, i) => client(i)));
  return run;
}

/** The latest expiry among holds that are meant to expire during the run (ms). */
export function lastShortExpiry(run: ModelRun): number {
  const short = [...run.holds.values()].map((h) => h.expiresAt).filter((t) => t < Date.now() + 60_000);
  return Math.max(Date.now(), ...short);
}

export type HoldStatus = 'held' | 'captured' | 'voided' | 'expired';

export interface Expected {
  balances: Map<string, bigint>;
  available: Map<string, bigint>;
  statuses: Map<string, HoldStatus>;
  /** Captured amounts of captured holds. */
  captured: Map<string, bigint>;
}

const ALLOWED: Record<ModelOp['op'], string[]> = {
  hold: ['201', '422 insufficient_funds'],
  capture: ['200', '409 hold_already_captured', '409 hold_already_voided', '409 hold_expired', '422 capture_exceeds_hold'],
  void: ['200', '409 hold_already_captured', '409 hold_already_voided', '409 hold_expired'],
  transfer: ['201', '422 insufficient_funds'],
  'add-money': ['200'],
};

const labelOf = (a: Timed) => (a.status >= 400 ? `${a.status} ${String(a.body.code)}` : String(a.status));

/** Checks every answer on its own (allowed, copies agree) and builds the model of the books at `at` (ms). */
export function buildModel(run: ModelRun, at: number): Expected {
  const balances = new Map(run.users.map((u) => [u, run.funding]));
  const add = (user: string, amount: bigint) => balances.set(user, balances.get(user)! + amount);
  const resolutions = new Map<string, Logged[]>();
  for (const entry of run.log) {
    const [first, ...copies] = entry.answers;
    assert.ok(ALLOWED[entry.op.op].includes(labelOf(first!)), `${entry.op.op}: ${first!.status} ${JSON.stringify(first!.body)}`);
    for (const copy of copies) assert.deepEqual([copy.status, copy.body], [first!.status, first!.body], `copies of key ${entry.key} disagree`);
    const ok = first!.status < 300;
    const { op } = entry;
    if (op.op === 'transfer' && ok) {
      add(op.from, -op.amount);
      add(op.to, op.amount);
    }
    if (op.op === 'add-money') add(op.userId, op.amount);
    if (op.op === 'capture' || op.op === 'void') resolutions.set(op.holdId, [...(resolutions.get(op.holdId) ?? []), entry]);
  }
  const statuses = new Map<string, HoldStatus>();
  const captured = new Map<string, bigint>();
  for (const hold of run.holds.values()) {
    const status = resolveHold(hold, resolutions.get(hold.holdId) ?? [], at);
    statuses.set(hold.holdId, status.status);
    if (status.captured !== undefined) {
      captured.set(hold.holdId, status.captured);
      add(hold.from, -status.captured);
      add(hold.to, status.captured);
    }
  }
  const available = new Map(balances);
  for (const hold of run.holds.values()) {
    if (statuses.get(hold.holdId) === 'held') available.set(hold.from, available.get(hold.from)! - hold.amount);
  }
  return { balances, available, statuses, captured };
}

/** A hold's final state from the answers about it, each of which must agree with it and with the clock. */
function resolveHold(hold: PlacedHold, entries: Logged[], at: number): { status: HoldStatus; captured?: bigint } {
  const wins = entries.filter((e) => e.answers[0]!.status === 200);
  const what = () => `hold ${hold.holdId}: ${entries.map((e) => `${e.op.op} ${labelOf(e.answers[0]!)}`).join(', ')}`;
  assert.ok(wins.length <= 1, `more than one success: ${what()}`);
  const win = wins[0];
  const status: HoldStatus = win ? (win.op.op === 'capture' ? 'captured' : 'voided') : at >= hold.expiresAt ? 'expired' : 'held';
  for (const entry of entries) {
    const answer = entry.answers[0]!;
    const code = codeOf(answer);
    if (answer.status === 200) assert.ok(answer.sentAt < hold.expiresAt, `a ${entry.op.op} sent ${answer.sentAt - hold.expiresAt} ms after expiry succeeded: ${what()}`);
    if (code === 'hold_already_captured') assert.equal(status, 'captured', what());
    if (code === 'hold_already_voided') assert.equal(status, 'voided', what());
    if (code === 'hold_expired') {
      assert.equal(status, 'expired', what());
      assert.ok(answer.answeredAt >= hold.expiresAt, `hold_expired answered ${hold.expiresAt - answer.answeredAt} ms before expiry: ${what()}`);
    }
    if (code === 'capture_exceeds_hold') {
      const op = entry.op as ModelOp & { op: 'capture' };
      assert.ok(op.amount !== undefined && op.amount > hold.amount, what());
    }
  }
  if (win?.op.op !== 'capture') return { status };
  const amount = win.op.amount ?? hold.amount;
  assert.equal(win.answers[0]!.body.captured_amount, formatCents(amount));
  return { status, captured: amount };
}

/** Every balance, available balance and hold status the service shows equals the model. */
export async function assertServiceMatchesModel(url: string, run: ModelRun, expected: Expected): Promise<void> {
  const shown = await inChunks(run.users, (userId) => balancesOf(url, userId));
  const wrong = run.users.flatMap((userId, i) => {
    const want = { balance: expected.balances.get(userId)!, available: expected.available.get(userId)! };
    return shown[i]!.balance === want.balance && shown[i]!.available === want.available ? [] : [{ userId, shown: fmt(shown[i]!), want: fmt(want) }];
  });
  assert.deepEqual(wrong, [], `${wrong.length} users differ from the model`);
  const holdIds = [...run.holds.keys()];
  const holds = await inChunks(holdIds, async (holdId) => (await requestJson<Body>(`${url}/holds/${holdId}`)).body);
  const differing = holdIds.flatMap((holdId, i) => {
    const body = holds[i]!;
    const captured = expected.captured.get(holdId);
    const want = { status: expected.statuses.get(holdId), captured_amount: captured === undefined ? null : formatCents(captured) };
    const got = { status: body.status, captured_amount: body.captured_amount };
    return JSON.stringify(got) === JSON.stringify(want) ? [] : [{ holdId, got, want }];
  });
  assert.deepEqual(differing.slice(0, 10), [], `${differing.length} holds differ from the model`);
}

const fmt = (b: { balance: bigint; available: bigint }) => ({ balance: formatCents(b.balance), available: formatCents(b.available) });

async function inChunks<T, R>(items: readonly T[], fn: (item: T) => Promise<R>, size = 50): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

/**
 * The stored rows agree too: each hold has its one `hold` entry, a release exactly when money went
 * back (voided, expired, or the rest of a part capture), a two-legged transfer exactly when captured;
 * and the books reconcile. `releasedAll`: no hold past its expiry is still 'held' in its row.
 */
export async function assertStoredMatchesModel(db: Knex, run: ModelRun, expected: Expected): Promise<void> {
  const stored = await storedHolds(db, [...run.holds.keys()]);
  for (const hold of run.holds.values()) {
    const row = stored.get(hold.holdId)!;
    const status = expected.statuses.get(hold.holdId)!;
    const captured = expected.captured.get(hold.holdId);
    const released = status === 'voided' || status === 'expired' || (captured !== undefined && captured < hold.amount);
    const got = { status: row.status, holds: row.holds, releases: row.releases, legs: row.transfer_legs, captured: row.captured_amount_minor };
    const want = { status, holds: '1', releases: released ? '1' : '0', legs: captured === undefined ? '0' : '2', captured: captured?.toString() ?? null };
    assert.deepEqual(got, want, `hold ${hold.holdId}`);
    if (status !== 'held') assert.equal(row.resolved_before_expiry, status !== 'expired', `hold ${hold.holdId} resolved on the wrong side of expiry`);
  }
  await assertReconciled(db);
}

/** How the run went, for the log: answers by operation and outcome. */
export function summary(run: ModelRun, expected: Expected): string {
  const byOp: Record<string, Record<string, number>> = {};
  for (const entry of run.log) {
    const counts = tally([entry.answers[0]!]);
    for (const [label, n] of Object.entries(counts)) byOp[entry.op.op] = { ...byOp[entry.op.op], [label]: (byOp[entry.op.op]?.[label] ?? 0) + n };
  }
  const statuses: Record<string, number> = {};
  for (const s of expected.statuses.values()) statuses[s] = (statuses[s] ?? 0) + 1;
  return `${JSON.stringify(byOp)} holds ${JSON.stringify(statuses)}`;
}
