import { randomUUID } from 'node:crypto';
import type { Knex } from '@wallet/platform';

/**
 * A ledger built in memory, then written with set-based SQL (unnest, a few statements whatever its
 * size): thousands of entries per user in a second, with every figure known independently of the
 * service. The replay (balanceAt, period) reads only this model.
 */
export interface ModelEntry {
  id: string;
  user_id: string;
  type: 'credit' | 'debit';
  kind: 'add_money' | 'transfer';
  amount: bigint;
  balanceAfter: bigint;
  transferId: string | null;
  counterparty: string | null;
  atMs: number;
  sequence: bigint;
}

export interface LedgerModel {
  users: string[];
  /** Each user's entries in sequence order (times never go back). */
  entries: Map<string, ModelEntry[]>;
  transfers: Array<{ id: string; from: string; to: string; amount: bigint; atMs: number }>;
  firstMs: number;
  lastMs: number;
}

export { seededRandom } from '@wallet/platform/testkit';

/**
 * `operations` money operations over `userCount` users from `startMs`: 80 % transfers, the rest
 * credits; a third of them at the same millisecond as the one before (as a batch's rows are).
 */
export function buildLedger(userCount: number, operations: number, startMs: number, random: () => number): LedgerModel {
  const users: string[] = Array.from({ length: userCount }, () => randomUUID());
  const entries = new Map(users.map((u) => [u, [] as ModelEntry[]]));
  const balance = new Map(users.map((u) => [u, 0n]));
  const transfers: LedgerModel['transfers'] = [];
  let atMs = startMs;
  const leg = (user: string, type: 'credit' | 'debit', amount: bigint, transfer: { id: string; other: string } | null) => {
    const list = entries.get(user)!;
    const after = balance.get(user)! + (type === 'credit' ? amount : -amount);
    balance.set(user, after);
    list.push({
      id: randomUUID(),
      user_id: user,
      type,
      kind: transfer ? 'transfer' : 'add_money',
      amount,
      balanceAfter: after,
      transferId: transfer?.id ?? null,
      counterparty: transfer?.other ?? null,
      atMs,
      sequence: BigInt(list.length + 1),
    });
  };
  for (let i = 0; i < operations; i += 1) {
    if (random() > 0.33) atMs += 1 + Math.floor(random() * 60_000);
    const from = users[Math.floor(random() * userCount)]!;
    const to = users[Math.floor(random() * userCount)]!;
    const amount = BigInt(1 + Math.floor(random() * 50_000));
    if (random() < 0.8 && from !== to && balance.get(from)! >= amount) {
      const id = randomUUID();
      transfers.push({ id, from, to, amount, atMs });
      leg(from, 'debit', amount, { id, other: to });
      leg(to, 'credit', amount, { id, other: from });
    } else {
      leg(to, 'credit', amount * 3n, null);
    }
  }
  return { users, entries, transfers, firstMs: startMs, lastMs: atMs };
}

const CHUNK = 10_000;

/** Writes the model's users, transfers and ledger rows, and the users' balances, sequences and last times. */
// knex's typings take no null inside an array binding; pg sends it as SQL NULL.
type Bindings = readonly Knex.RawBinding[];

export async function insertLedger(db: Knex, model: LedgerModel): Promise<void> {
  const last = (u: string) => model.entries.get(u)!.at(-1);
  await db.raw(
    `INSERT INTO users (user_id, created_at, balance_minor, last_sequence, last_entry_at)
     SELECT * FROM unnest(?::uuid[], ?::timestamptz[], ?::bigint[], ?::bigint[], ?::timestamptz[])`,
    [
      model.users,
      model.users.map(() => new Date(model.firstMs - 1).toISOString()),
      model.users.map((u) => (last(u)?.balanceAfter ?? 0n).toString()),
      model.users.map((u) => (last(u)?.sequence ?? 0n).toString()),
      model.users.map((u) => (last(u) ? new Date(last(u)!.atMs).toISOString() : null)),
    ] as unknown as Bindings,
  );
  for (let i = 0; i < model.transfers.length; i += CHUNK) {
    const part = model.transfers.slice(i, i + CHUNK);
    await db.raw(
      `INSERT INTO transfers (transfer_id, from_user_id, to_user_id, amount_minor, created_at)
       SELECT * FROM unnest(?::uuid[], ?::uuid[], ?::uuid[], ?::bigint[], ?::timestamptz[])`,
      [part.map((t) => t.id), part.map((t) => t.from), part.map((t) => t.to), part.map((t) => t.amount.toString()), part.map((t) => new Date(t.atMs).toISOString())],
    );
  }
  const rows = [...model.entries.values()].flat();
  for (let i = 0; i < rows.length; i += CHUNK) {
    const part = rows.slice(i, i + CHUNK);
    await db.raw(
      `INSERT INTO transactions (id, user_id, type, kind, amount_minor, balance_after_minor, transfer_id, counterparty_user_id, created_at, sequence)
       SELECT * FROM unnest(?::uuid[], ?::uuid[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::uuid[], ?::uuid[], ?::timestamptz[], ?::bigint[])`,
      [
        part.map((e) => e.id),
        part.map((e) => e.user_id),
        part.map((e) => e.type),
        part.map((e) => e.kind),
        part.map((e) => e.amount.toString()),
        part.map((e) => e.balanceAfter.toString()),
        part.map((e) => e.transferId),
        part.map((e) => e.counterparty),
        part.map((e) => new Date(e.atMs).toISOString()),
        part.map((e) => e.sequence.toString()),
      ] as unknown as Bindings,
    );
  }
  await db.raw('ANALYZE transactions');
}

/** The replay: the balance after every entry at or before the instant, and the last such entry's sequence. */
export function replayBalanceAt(model: LedgerModel, user: string, atMs: number): { balance: bigint; sequence: bigint } {
  let found: ModelEntry | undefined;
  for (const entry of model.entries.get(user) ?? []) {
    if (entry.atMs > atMs) break;
    found = entry;
  }
  return found ? { balance: found.balanceAfter, sequence: found.sequence } : { balance: 0n, sequence: 0n };
}

/** The replay of [fromMs, toMs): its entries in applied order, and the balances either side. */
export function replayPeriod(model: LedgerModel, user: string, fromMs: number, toMs: number) {
  const all = model.entries.get(user) ?? [];
  const entries = all.filter((e) => e.atMs >= fromMs && e.atMs < toMs);
  const sum = (type: string) => entries.filter((e) => e.type === type).reduce((s, e) => s + e.amount, 0n);
  return {
    entries,
    opening: replayBalanceAt(model, user, fromMs - 1).balance,
    closing: replayBalanceAt(model, user, toMs - 1).balance,
    credits: sum('credit'),
    debits: sum('debit'),
  };
}
