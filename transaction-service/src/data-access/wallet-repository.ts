import type { Knex } from '@wallet/platform';

/**
 * SQL for balances and the ledger. Every function takes the transaction (or knex) it must run
 * in; the caller decides the transaction boundary. Money columns are BIGINT, which pg returns as
 * strings: they are converted to bigint here and nowhere else.
 */

export interface LockedBalance {
  userId: string;
  balanceMinor: bigint;
}

/**
 * Locks the given users' rows in user_id order, the one order every transaction uses, so two
 * transfers between the same pair (A->B and B->A) queue instead of deadlocking.
 */
export async function lockUsersInOrder(trx: Knex.Transaction, userIds: readonly string[]): Promise<LockedBalance[]> {
  const rows = (await trx('users')
    .select('user_id', 'balance_minor')
    .whereIn('user_id', userIds)
    .orderBy('user_id')
    .forUpdate()) as Array<{ user_id: string; balance_minor: string }>;
  return rows.map((r) => ({ userId: r.user_id, balanceMinor: BigInt(r.balance_minor) }));
}

export interface TransferRecord {
  transferId: string;
  fromUserId: string;
  toUserId: string;
  amountMinor: bigint;
  debitId: string;
  creditId: string;
  createdAt: Date;
}

/** An idempotency key's outcome, stored by the same statement that moves the money. */
export interface OutcomeToStore {
  endpoint: string;
  key: string;
  status: number;
  body: Record<string, unknown>;
}

export interface AppliedTransfer {
  senderBalanceMinor: bigint;
  receiverBalanceMinor: bigint;
  createdAt: Date;
}

/**
 * Moves the money, writes the transfer and its two ledger rows and, with an idempotency key, the
 * key's outcome, in ONE statement: the row locks are held for one round trip plus the commit.
 * The caller must hold both row locks and have checked funds; the CHECK (balance_minor >= 0)
 * constraint is the backstop.
 */
export async function applyTransfer(
  trx: Knex.Transaction,
  t: TransferRecord,
  outcome?: OutcomeToStore,
): Promise<AppliedTransfer> {
  const amount = t.amountMinor.toString();
  const storeOutcome = outcome
    ? `, stored AS (
      UPDATE idempotency_keys SET response_status = :status, response_body = (:body)::json
       WHERE endpoint = :endpoint AND idempotency_key = :key
    )`
    : '';
  const result = await trx.raw<{ rows: Array<{ type: string; balance_after_minor: string; created_at: Date }> }>(
    `
    WITH moved AS (
      UPDATE users
         SET balance_minor = balance_minor + CASE WHEN user_id = :from THEN -(:amount)::bigint ELSE (:amount)::bigint END
       WHERE user_id IN (:from, :to)
      RETURNING user_id, balance_minor
    ), transfer AS (
      INSERT INTO transfers (transfer_id, from_user_id, to_user_id, amount_minor, created_at)
      VALUES (:transferId, :from, :to, (:amount)::bigint, :createdAt)
      RETURNING transfer_id, created_at
    )${storeOutcome}
    INSERT INTO transactions
      (id, user_id, type, kind, amount_minor, balance_after_minor, transfer_id, counterparty_user_id, created_at)
    SELECT leg.id, moved.user_id, leg.type, 'transfer', (:amount)::bigint, moved.balance_minor,
           transfer.transfer_id, leg.counterparty, transfer.created_at
      FROM moved
      JOIN (VALUES ((:debitId)::uuid, (:from)::uuid, 'debit', (:to)::uuid),
                   ((:creditId)::uuid, (:to)::uuid, 'credit', (:from)::uuid)) AS leg(id, user_id, type, counterparty)
        ON leg.user_id = moved.user_id
     CROSS JOIN transfer
    RETURNING type, balance_after_minor, created_at
    `,
    {
      from: t.fromUserId,
      to: t.toUserId,
      amount,
      transferId: t.transferId,
      debitId: t.debitId,
      creditId: t.creditId,
      createdAt: t.createdAt,
      ...(outcome
        ? { status: outcome.status, body: JSON.stringify(outcome.body), endpoint: outcome.endpoint, key: outcome.key }
        : {}),
    },
  );
  const debit = result.rows.find((r) => r.type === 'debit');
  const credit = result.rows.find((r) => r.type === 'credit');
  // Both legs or nothing: a transfer that wrote one leg would break the books.
  if (!debit || !credit || result.rows.length !== 2) {
    throw new Error(`transfer ${t.transferId} wrote ${result.rows.length} ledger rows instead of 2`);
  }
  return {
    senderBalanceMinor: BigInt(debit.balance_after_minor),
    receiverBalanceMinor: BigInt(credit.balance_after_minor),
    createdAt: debit.created_at,
  };
}

/**
 * Credits a user and writes the ledger row in one statement. The UPDATE takes the row lock; the
 * WHERE clause refuses a credit that would pass `maxBalanceMinor`. Returns undefined when no row
 * was updated (unknown user, or the limit) — the caller tells which.
 */
export async function applyCredit(
  trx: Knex.Transaction,
  c: { transactionId: string; userId: string; amountMinor: bigint; maxBalanceMinor: bigint },
): Promise<{ balanceAfterMinor: bigint; createdAt: Date } | undefined> {
  const result = await trx.raw<{ rows: Array<{ balance_after_minor: string; created_at: Date }> }>(
    `
    WITH moved AS (
      UPDATE users SET balance_minor = balance_minor + (:amount)::bigint
       WHERE user_id = :userId AND balance_minor <= (:maxBalance)::bigint - (:amount)::bigint
      RETURNING user_id, balance_minor
    )
    INSERT INTO transactions (id, user_id, type, kind, amount_minor, balance_after_minor)
    SELECT :transactionId, user_id, 'credit', 'add_money', (:amount)::bigint, balance_minor FROM moved
    RETURNING balance_after_minor, created_at
    `,
    {
      amount: c.amountMinor.toString(),
      userId: c.userId,
      maxBalance: c.maxBalanceMinor.toString(),
      transactionId: c.transactionId,
    },
  );
  const row = result.rows[0];
  return row ? { balanceAfterMinor: BigInt(row.balance_after_minor), createdAt: row.created_at } : undefined;
}

export async function findBalance(db: Knex | Knex.Transaction, userId: string): Promise<bigint | undefined> {
  const row = (await db('users').select('balance_minor').where({ user_id: userId }).first()) as
    | { balance_minor: string }
    | undefined;
  return row ? BigInt(row.balance_minor) : undefined;
}

export interface LedgerRow {
  seq: string;
  id: string;
  user_id: string;
  type: 'credit' | 'debit';
  kind: 'add_money' | 'transfer';
  amount_minor: string;
  balance_after_minor: string;
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
  return (await query) as LedgerRow[];
}
