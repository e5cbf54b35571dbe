import { createKnex, type Knex } from '@wallet/platform';

/**
 * The read view of the wallet: every query that reads balances or the ledger for a client (HTTP
 * reads, NATS balance requests), none that writes. Committed data only; no lock, except that a
 * read about a past instant first waits for the batches in flight on its user (waitForUserWriters,
 * ADR 11): the current balance and the history never wait. BIGINT columns (money, seq), which pg returns as strings, are
 * converted to bigint here: the domain and the edges only see bigint.
 */

/** The user's balance in minor units, or undefined when the user has not arrived here (yet). */
export async function findBalanceMinor(db: Knex | Knex.Transaction, userId: string): Promise<bigint | undefined> {
  const row = (await db('users').select('balance_minor').where({ user_id: userId }).first()) as
    | { balance_minor: string }
    | undefined;
  return row ? BigInt(row.balance_minor) : undefined;
}

/**
 * The balances of many users in one query (one round trip whatever the number of requests waiting).
 * Users not found are simply absent from the map.
 */
export async function findBalancesMinor(db: Knex, userIds: string[]): Promise<Map<string, bigint>> {
  if (userIds.length === 0) return new Map();
  const result = await db.raw<{ rows: Array<{ user_id: string; balance_minor: string }> }>(
    'SELECT user_id, balance_minor FROM users WHERE user_id = ANY(?::uuid[])',
    [userIds],
  );
  return new Map(result.rows.map((row) => [row.user_id, BigInt(row.balance_minor)]));
}

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
export async function findBalanceAt(db: Knex, userId: string, asOf: Date): Promise<{ balanceMinor: bigint; sequence: bigint }> {
  const result = await db.raw<{ rows: Array<{ balance_after_minor: string; sequence: string }> }>(
    `SELECT balance_after_minor, sequence FROM transactions
      WHERE user_id = ? AND created_at <= ?
      ORDER BY created_at DESC, sequence DESC
      LIMIT 1`,
    [userId, asOf.toISOString()],
  );
  const row = result.rows[0];
  return row ? { balanceMinor: BigInt(row.balance_after_minor), sequence: BigInt(row.sequence) } : { balanceMinor: 0n, sequence: 0n };
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
      WHERE user_id = :userId AND created_at >= :from AND created_at < :to`,
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
      WHERE user_id = :userId AND created_at >= :from AND created_at < :to
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
