import { createKnex, type Knex } from '@wallet/platform';
import type { HoldState } from '../domain/transfers/money-command';
import { HOLD_COLUMNS, toHoldState, type HoldRow } from './money-batch-repository';

/**
 * The read view of the wallet: every query that reads balances or the ledger for a client (HTTP
 * reads, NATS balance requests), none that writes. Committed data only; no lock, except that a
 * read about a past instant first waits for the batches in flight on its user (waitForUserWriters,
 * ADR 11), and so does a read that would count an expired hold not yet released (ADR 12); the
 * history never waits. BIGINT columns (money, seq), which pg returns as strings, are
 * converted to bigint here: the domain and the edges only see bigint.
 */

/** A user's posted balance and available balance (less its active holds), in minor units. */
export interface AccountBalances {
  balanceMinor: bigint;
  availableMinor: bigint;
  /** Some hold of the user's was counted as expired while its row still says 'held' (not released yet). */
  countedUnreleasedExpiry: boolean;
}

/**
 * The available balance as of the statement's start: what the user's row holds back, less the
 * holds that have expired but were not released yet (ADR 12: reads never wait for the sweeper).
 * Costs nothing for a user who holds nothing.
 */
const EXPIRED_UNRELEASED_MINOR = `(SELECT sum(h.amount_minor) FROM holds h
        WHERE h.from_user_id = u.user_id AND h.status = 'held' AND h.expires_at <= now())`;
const AVAILABLE_MINOR = `CASE WHEN u.held_minor = 0 THEN u.balance_minor
  ELSE u.balance_minor - u.held_minor + coalesce(${EXPIRED_UNRELEASED_MINOR}, 0) END`;
const COUNTED_UNRELEASED_EXPIRY = `(u.held_minor > 0 AND ${EXPIRED_UNRELEASED_MINOR} IS NOT NULL)`;

/** The user's balances, or undefined when the user has not arrived here (yet). */
export async function findAccount(db: Knex, userId: string): Promise<AccountBalances | undefined> {
  return (await findAccounts(db, [userId])).get(userId);
}

/**
 * The balances of many users in one query (one round trip whatever the number of requests waiting).
 * Users not found are simply absent from the map.
 */
export async function findAccounts(db: Knex, userIds: string[]): Promise<Map<string, AccountBalances>> {
  if (userIds.length === 0) return new Map();
  const result = await db.raw<{ rows: Array<{ user_id: string; balance_minor: string; available_minor: string; counted_expiry: boolean }> }>(
    `SELECT u.user_id, u.balance_minor, ${AVAILABLE_MINOR} AS available_minor, ${COUNTED_UNRELEASED_EXPIRY} AS counted_expiry
       FROM users u WHERE u.user_id = ANY(?::uuid[])`,
    [userIds],
  );
  return new Map(
    result.rows.map((row) => [
      row.user_id,
      { balanceMinor: BigInt(row.balance_minor), availableMinor: BigInt(row.available_minor), countedUnreleasedExpiry: row.counted_expiry },
    ]),
  );
}

/** Ledger entries that post money (credits and debits): history and statements list these; holds have their own list. */
const POSTED = "type IN ('credit', 'debit')";

export interface LedgerRow {
  seq: bigint;
  id: string;
  user_id: string;
  type: 'credit' | 'debit';
  kind: 'add_money' | 'transfer';
  amount_minor: bigint;
  balance_after_minor: bigint;
  transfer_id: string | null;
  counterparty_user_id: string | null;
  created_at: Date;
  /** The user's sequence number of this change (as its money event carries it). */
  sequence: bigint;
}

/**
 * One page of a user's ledger, newest first, by keyset on seq: rows committed after the first
 * page have larger seq values, so later pages never repeat or skip a row.
 */
export async function listLedgerPage(
  db: Knex,
  userId: string,
  options: { limit: number; beforeSeq?: bigint },
): Promise<LedgerRow[]> {
  const query = db('transactions')
    .select(
      'seq',
      'id',
      'user_id',
      'type',
      'kind',
      'amount_minor',
      'balance_after_minor',
      'transfer_id',
      'counterparty_user_id',
      'created_at',
      'sequence',
    )
    .where({ user_id: userId })
    .whereRaw(POSTED)
    .orderBy('seq', 'desc')
    .limit(options.limit);
  if (options.beforeSeq !== undefined) void query.andWhere('seq', '<', options.beforeSeq.toString());
  type Bigints = 'seq' | 'amount_minor' | 'balance_after_minor' | 'sequence';
  const rows = (await query) as Array<Omit<LedgerRow, Bigints> & Record<Bigints, string>>;
  return rows.map((row) => ({
    ...row,
    seq: BigInt(row.seq),
    sequence: BigInt(row.sequence),
    amount_minor: BigInt(row.amount_minor),
    balance_after_minor: BigInt(row.balance_after_minor),
  }));
}

/**
 * Waits until no money batch holds the user's row (ADR 11): a batch holds it, FOR NO KEY UPDATE,
 * from before it reads the time its rows get until its COMMIT or ROLLBACK, and FOR SHARE conflicts
 * with that. Once granted, every batch that could still give a row a time at or before "now" has
 * ended, and its rows are visible to the next statement. One statement in its own transaction, so
 * the share lock is let go at once: writers wait for this read for one round trip at most.
 *
 * The pool must be made for it (createReadAtInstantPool): its lock_timeout bounds the wait (then
 * this fails with lock_not_available, 55P03), and its sessions commit asynchronously (a row lock
 * gives the transaction an id and a commit record; nothing in it is worth an fsync).
 * Returns false when the user is not here (yet).
 */
export async function waitForUserWriters(db: Knex, userId: string): Promise<boolean> {
  const result = await db.raw<{ rows: unknown[] }>('SELECT 1 FROM users WHERE user_id = ? FOR SHARE', [userId]);
  return result.rows.length > 0;
}

/** The pool of the reads at an instant (waitForUserWriters's needs), apart from the pool of the other reads. */
export function createReadAtInstantPool(options: {
  url: string;
  poolMax: number;
  applicationName: string;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}): Knex {
  return createKnex({ ...options, asynchronousCommit: true });
}

/** The user's balance after the last change at or before an instant, and that change's sequence (0 and 0 before the first). */
export async function findBalanceAt(
  db: Knex,
  userId: string,
  asOf: Date,
): Promise<{ balanceMinor: bigint; availableMinor: bigint; sequence: bigint }> {
  // Available at the instant: the balance then, less the holds active then — placed, not yet
  // expired, and not yet captured or released by an entry at or before it. Judged by the ledger's
  // own times (the hold's created_at is its hold entry's; a capture's is its transfer's; a release
  // is an entry), never by resolved_at, which is the database's clock: another clock than the
  // balance's, so mixing them could show a capture's debit without its hold's end (or the reverse).
  const result = await db.raw<{ rows: Array<{ balance_after_minor: string; sequence: string; held_minor: string }> }>(
    `SELECT l.balance_after_minor, l.sequence,
            (SELECT coalesce(sum(h.amount_minor), 0) FROM holds h
              WHERE h.from_user_id = :userId AND h.created_at <= :asOf AND h.expires_at > :asOf
                AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.transfer_id = h.transfer_id AND t.created_at <= :asOf)
                AND NOT EXISTS (SELECT 1 FROM transactions r
                                 WHERE r.hold_id = h.hold_id AND r.kind = 'hold' AND r.type = 'release' AND r.created_at <= :asOf)) AS held_minor
       FROM (SELECT balance_after_minor, sequence FROM transactions
              WHERE user_id = :userId AND created_at <= :asOf
              ORDER BY created_at DESC, sequence DESC
              LIMIT 1) l`,
    { userId, asOf: asOf.toISOString() },
  );
  const row = result.rows[0];
  if (!row) return { balanceMinor: 0n, availableMinor: 0n, sequence: 0n };
  const balanceMinor = BigInt(row.balance_after_minor);
  return { balanceMinor, availableMinor: balanceMinor - BigInt(row.held_minor), sequence: BigInt(row.sequence) };
}

/** A hold and the database's clock at the read (to show it 'expired' from expires_at on). */
export async function findHold(db: Knex, holdId: string): Promise<{ hold: HoldState; dbNow: Date } | undefined> {
  const result = await db.raw<{ rows: Array<HoldRow & { db_now: Date }> }>(`SELECT ${HOLD_COLUMNS}, now() AS db_now FROM holds h WHERE h.hold_id = ?`, [
    holdId,
  ]);
  const row = result.rows[0];
  return row ? { hold: toHoldState(row), dbNow: row.db_now } : undefined;
}

export type HoldFilter = 'held' | 'captured' | 'voided' | 'expired';

/** What a status filter means at the statement's instant: 'held' and 'expired' split the held rows by expires_at. */
const HOLD_FILTERS: Record<HoldFilter, string> = {
  held: "h.status = 'held' AND h.expires_at > now()",
  expired: "(h.status = 'expired' OR (h.status = 'held' AND h.expires_at <= now()))",
  captured: "h.status = 'captured'",
  voided: "h.status = 'voided'",
};

/** One page of a user's holds as sender, newest first, by keyset on hold_id (UUIDv7: time-ordered). */
export async function listHoldsPage(
  db: Knex,
  userId: string,
  options: { limit: number; status?: HoldFilter; beforeHoldId?: string },
): Promise<{ holds: HoldState[]; dbNow: Date }> {
  const result = await db.raw<{ rows: Array<HoldRow & { db_now: Date }> }>(
    `SELECT ${HOLD_COLUMNS}, now() AS db_now FROM holds h
      WHERE h.from_user_id = :userId
        ${options.status ? `AND ${HOLD_FILTERS[options.status]}` : ''}
        ${options.beforeHoldId ? 'AND h.hold_id < :before' : ''}
      ORDER BY h.hold_id DESC
      LIMIT :limit`,
    { userId, limit: options.limit, ...(options.beforeHoldId ? { before: options.beforeHoldId } : {}) },
  );
  const dbNow = result.rows[0]?.db_now ?? new Date();
  return { holds: result.rows.map(toHoldState), dbNow };
}

/** A half-open period [from, to) of one user's ledger. */
export interface LedgerPeriod {
  userId: string;
  from: Date;
  to: Date;
}

export interface PeriodSummary {
  openingMinor: bigint;
  closingMinor: bigint;
  creditsMinor: bigint;
  debitsMinor: bigint;
  entries: bigint;
}

/**
 * Opening and closing balances and the period's totals, in one statement: two backward steps and
 * one index-only range scan of transactions_user_time.
 */
export async function summarisePeriod(db: Knex, period: LedgerPeriod): Promise<PeriodSummary> {
  const bindings = { userId: period.userId, from: period.from.toISOString(), to: period.to.toISOString() };
  const result = await db.raw<{ rows: Array<Record<'opening' | 'closing' | 'credits' | 'debits' | 'entries', string | null>> }>(
    `SELECT (SELECT balance_after_minor FROM transactions
              WHERE user_id = :userId AND created_at < :from ORDER BY created_at DESC, sequence DESC LIMIT 1) AS opening,
            (SELECT balance_after_minor FROM transactions
              WHERE user_id = :userId AND created_at < :to ORDER BY created_at DESC, sequence DESC LIMIT 1) AS closing,
            coalesce(sum(amount_minor) FILTER (WHERE type = 'credit'), 0) AS credits,
            coalesce(sum(amount_minor) FILTER (WHERE type = 'debit'), 0) AS debits,
            count(*) AS entries
       FROM transactions
      WHERE user_id = :userId AND created_at >= :from AND created_at < :to AND ${POSTED}`,
    bindings,
  );
  const row = result.rows[0]!;
  const big = (value: string | null) => BigInt(value ?? '0');
  return {
    openingMinor: big(row.opening),
    closingMinor: big(row.closing),
    creditsMinor: big(row.credits),
    debitsMinor: big(row.debits),
    entries: big(row.entries),
  };
}

/** Where a statement page starts: after this row (its time in microseconds since the epoch, exact, and its sequence). */
export interface PeriodPosition {
  atMicros: bigint;
  sequence: bigint;
}

/**
 * One page of a period's rows, oldest first, by keyset on (created_at, sequence): the order rows
 * were applied in (times never go back along a user's sequence: migration 006). Each row comes
 * with its exact position, for the next page to start after it.
 */
export async function listPeriodPage(
  db: Knex,
  period: LedgerPeriod,
  options: { limit: number; after?: PeriodPosition },
): Promise<Array<{ row: LedgerRow; position: PeriodPosition }>> {
  const after = options.after;
  const result = await db.raw<{ rows: Array<Record<string, unknown>> }>(
    `SELECT seq, id, user_id, type, kind, amount_minor, balance_after_minor, transfer_id, counterparty_user_id, created_at, sequence,
            (extract(epoch FROM created_at) * 1000000)::bigint AS at_micros
       FROM transactions
      WHERE user_id = :userId AND created_at >= :from AND created_at < :to AND ${POSTED}
        ${after ? "AND (created_at, sequence) > ('epoch'::timestamptz + (:afterMicros)::bigint * interval '1 microsecond', :afterSequence)" : ''}
      ORDER BY created_at, sequence
      LIMIT :limit`,
    {
      userId: period.userId,
      from: period.from.toISOString(),
      to: period.to.toISOString(),
      limit: options.limit,
      ...(after ? { afterMicros: after.atMicros.toString(), afterSequence: after.sequence.toString() } : {}),
    },
  );
  return result.rows.map((raw) => {
    const row = toLedgerRow(raw);
    return { row, position: { atMicros: BigInt(raw.at_micros as string), sequence: row.sequence } };
  });
}

function toLedgerRow(raw: Record<string, unknown>): LedgerRow {
  return {
    seq: BigInt(raw.seq as string),
    id: raw.id as string,
    user_id: raw.user_id as string,
    type: raw.type as LedgerRow['type'],
    kind: raw.kind as LedgerRow['kind'],
    amount_minor: BigInt(raw.amount_minor as string),
    balance_after_minor: BigInt(raw.balance_after_minor as string),
    transfer_id: raw.transfer_id as string | null,
    counterparty_user_id: raw.counterparty_user_id as string | null,
    created_at: raw.created_at as Date,
    sequence: BigInt(raw.sequence as string),
  };
}
