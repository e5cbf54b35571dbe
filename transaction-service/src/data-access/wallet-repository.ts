import type { Knex } from '@wallet/platform';

/**
 * SQL for balances and the ledger. Every function takes the transaction (or knex) it must run
 * in; the caller decides the transaction boundary. BIGINT columns (money, seq), which pg returns
 * as strings, are converted to bigint here: the domain and the HTTP layer only see bigint.
 */

/** The user's balance in minor units, or undefined when the user has not arrived here (yet). */
export async function findBalanceMinor(db: Knex | Knex.Transaction, userId: string): Promise<bigint | undefined> {
  const row = (await db('users').select('balance_minor').where({ user_id: userId }).first()) as
    | { balance_minor: string }
    | undefined;
  return row ? BigInt(row.balance_minor) : undefined;
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
    )
    .where({ user_id: userId })
    .orderBy('seq', 'desc')
    .limit(options.limit);
  if (options.beforeSeq !== undefined) void query.andWhere('seq', '<', options.beforeSeq.toString());
  const rows = (await query) as Array<Omit<LedgerRow, 'seq' | 'amount_minor' | 'balance_after_minor'> & Record<'seq' | 'amount_minor' | 'balance_after_minor', string>>;
  return rows.map((row) => ({
    ...row,
    seq: BigInt(row.seq),
    amount_minor: BigInt(row.amount_minor),
    balance_after_minor: BigInt(row.balance_after_minor),
  }));
}
