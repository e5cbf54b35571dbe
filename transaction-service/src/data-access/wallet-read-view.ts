import type { Knex } from '@wallet/platform';

/**
 * The read view of the wallet: every query that reads balances or the ledger for a client (HTTP
 * reads, NATS balance requests), none that writes. Committed data only, no locks: a read never
 * waits for a transfer in flight. BIGINT columns (money, seq), which pg returns as strings, are
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
