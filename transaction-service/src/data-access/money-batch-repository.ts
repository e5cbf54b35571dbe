import type { Knex } from '@wallet/platform';
import type { LedgerLeg, TransferRow } from '../domain/transfers/money-command';

/**
 * The set-based SQL of one money batch. Every statement takes whole columns as typed arrays
 * (`unnest($1::uuid[], …)`), so a batch of any size is a fixed number of statements with a
 * fixed number of parameters. BIGINT values travel as decimal strings and are converted to
 * bigint here, never in the domain.
 */

/** An open batch transaction and its transaction id, read at BEGIN to settle an ambiguous COMMIT. */
export interface MoneyTransaction {
  trx: Knex.Transaction;
  xid: string;
}

export async function beginMoneyTransaction(knex: Knex): Promise<MoneyTransaction> {
  const trx = await knex.transaction();
  // knex reports a failed COMMIT or a rollback on executionPromise, not on commit(); keep the
  // rejection handled here and read it in commitMoneyTransaction.
  trx.executionPromise.catch(() => undefined);
  try {
    const result = await trx.raw<{ rows: Array<{ xid: string }> }>('SELECT pg_current_xact_id()::text AS xid');
    return { trx, xid: result.rows[0]!.xid };
  } catch (error) {
    await rollbackQuietly({ trx, xid: '' });
    throw error;
  }
}

/** COMMIT; rejects when the server refused it or the reply never came (see transactionStatus). */
export async function commitMoneyTransaction(tx: MoneyTransaction): Promise<void> {
  await tx.trx.commit();
  await tx.trx.executionPromise;
}

export async function rollbackQuietly(tx: MoneyTransaction): Promise<void> {
  if (tx.trx.isCompleted()) return;
  try {
    await tx.trx.rollback();
  } catch {
    // The connection is gone: PostgreSQL rolls back a transaction whose session ended.
  }
}

export type TransactionStatus = 'committed' | 'aborted' | 'in progress';

/** What became of a transaction, asked on another connection (PostgreSQL's commit log). */
export async function transactionStatus(knex: Knex, xid: string): Promise<TransactionStatus> {
  const result = await knex.raw<{ rows: Array<{ status: TransactionStatus | null }> }>(
    'SELECT pg_xact_status((?)::xid8) AS status',
    [xid],
  );
  const status = result.rows[0]?.status;
  // NULL only for a transaction older than the commit log keeps: never one we just ran.
  if (!status) throw new Error(`no status for transaction ${xid}`);
  return status;
}

export interface KeyClaim {
  endpoint: string;
  key: string;
  requestHash: string;
}

export function keyId(endpoint: string, key: string): string {
  return `${endpoint}\n${key}`;
}

/**
 * Claims many keys in one statement, in (endpoint, key) order — the one order every batch
 * uses, so two batches claiming overlapping keys queue instead of deadlocking. A key held by
 * an uncommitted claim elsewhere makes this wait for that transaction; a key already taken is
 * left out of the result. Returns the ids (keyId) of the keys this transaction now holds.
 */
export async function claimIdempotencyKeys(trx: Knex.Transaction, claims: readonly KeyClaim[]): Promise<Set<string>> {
  if (claims.length === 0) return new Set();
  const result = await trx.raw<{ rows: Array<{ endpoint: string; idempotency_key: string }> }>(
    `INSERT INTO idempotency_keys (endpoint, idempotency_key, request_hash)
     SELECT endpoint, idempotency_key, request_hash
       FROM unnest(?::text[], ?::text[], ?::text[]) AS c(endpoint, idempotency_key, request_hash)
      ORDER BY endpoint, idempotency_key
     ON CONFLICT (endpoint, idempotency_key) DO NOTHING
     RETURNING endpoint, idempotency_key`,
    [claims.map((c) => c.endpoint), claims.map((c) => c.key), claims.map((c) => c.requestHash)],
  );
  return new Set(result.rows.map((r) => keyId(r.endpoint, r.idempotency_key)));
}

export interface StoredIdempotencyRecord {
  requestHash: string;
  responseStatus: number | null;
  responseBody: Record<string, unknown> | null;
}

/** The stored records of keys taken before this transaction, by keyId. */
export async function findIdempotencyRecords(
  trx: Knex.Transaction,
  keys: ReadonlyArray<{ endpoint: string; key: string }>,
): Promise<Map<string, StoredIdempotencyRecord>> {
  if (keys.length === 0) return new Map();
  const result = await trx.raw<{
    rows: Array<{
      endpoint: string;
      idempotency_key: string;
      request_hash: string;
      response_status: number | null;
      response_body: Record<string, unknown> | null;
    }>;
  }>(
    `SELECT k.endpoint, k.idempotency_key, k.request_hash, k.response_status, k.response_body
       FROM idempotency_keys k
       JOIN unnest(?::text[], ?::text[]) AS w(endpoint, idempotency_key)
         ON k.endpoint = w.endpoint AND k.idempotency_key = w.idempotency_key`,
    [keys.map((k) => k.endpoint), keys.map((k) => k.key)],
  );
  return new Map(
    result.rows.map((r) => [
      keyId(r.endpoint, r.idempotency_key),
      { requestHash: r.request_hash, responseStatus: r.response_status, responseBody: r.response_body },
    ]),
  );
}

/**
 * Locks the users' rows in user_id order (the order every batch and every process uses) and
 * returns their balances. A user who has not arrived is simply absent.
 */
export async function lockBalances(trx: Knex.Transaction, userIds: readonly string[]): Promise<Map<string, bigint>> {
  if (userIds.length === 0) return new Map();
  const result = await trx.raw<{ rows: Array<{ user_id: string; balance_minor: string }> }>(
    `SELECT user_id, balance_minor FROM users
      WHERE user_id = ANY(?::uuid[])
      ORDER BY user_id
      FOR NO KEY UPDATE`,
    [[...userIds]],
  );
  return new Map(result.rows.map((r) => [r.user_id, BigInt(r.balance_minor)]));
}

export interface StoredOutcome {
  endpoint: string;
  key: string;
  status: number;
  body: Record<string, unknown>;
}

export interface MoneyBatchWrite {
  /** Net change per user; each user's row is updated once. */
  balanceChanges: ReadonlyArray<{ userId: string; deltaMinor: bigint }>;
  transfers: readonly TransferRow[];
  /** Ledger legs in the order they were applied: seq is assigned in this order. */
  legs: readonly LedgerLeg[];
  outcomes: readonly StoredOutcome[];
}

/**
 * Writes a decided batch: balances by their net change, transfers, ledger legs (seq in applied
 * order, while the batch holds the users' row locks) and the keys' stored outcomes. Returns the
 * balances the database holds afterwards, for the caller to compare with its own.
 */
export async function writeMoneyBatch(trx: Knex.Transaction, batch: MoneyBatchWrite): Promise<Map<string, bigint>> {
  const after = new Map<string, bigint>();
  if (batch.balanceChanges.length > 0) {
    const updated = await trx.raw<{ rows: Array<{ user_id: string; balance_minor: string }> }>(
      `UPDATE users u SET balance_minor = u.balance_minor + c.delta
         FROM unnest(?::uuid[], ?::bigint[]) AS c(user_id, delta)
        WHERE u.user_id = c.user_id
       RETURNING u.user_id, u.balance_minor`,
      [batch.balanceChanges.map((c) => c.userId), batch.balanceChanges.map((c) => c.deltaMinor.toString())],
    );
    for (const row of updated.rows) after.set(row.user_id, BigInt(row.balance_minor));
  }
  if (batch.transfers.length > 0) {
    await trx.raw(
      `INSERT INTO transfers (transfer_id, from_user_id, to_user_id, amount_minor, created_at)
       SELECT * FROM unnest(?::uuid[], ?::uuid[], ?::uuid[], ?::bigint[], ?::timestamptz[])`,
      [
        batch.transfers.map((t) => t.transferId),
        batch.transfers.map((t) => t.fromUserId),
        batch.transfers.map((t) => t.toUserId),
        batch.transfers.map((t) => t.amountMinor.toString()),
        batch.transfers.map((t) => t.createdAt.toISOString()),
      ],
    );
  }
  if (batch.legs.length > 0) {
    const legs = batch.legs;
    const inserted = await trx.raw<{ rowCount: number }>(
      `INSERT INTO transactions
         (id, user_id, type, kind, amount_minor, balance_after_minor, transfer_id, counterparty_user_id, created_at)
       SELECT id, user_id, type, kind, amount_minor, balance_after_minor, transfer_id, counterparty_user_id, created_at
         FROM unnest(?::uuid[], ?::uuid[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::uuid[], ?::uuid[], ?::timestamptz[])
              WITH ORDINALITY AS l(id, user_id, type, kind, amount_minor, balance_after_minor, transfer_id,
                                   counterparty_user_id, created_at, applied_order)
        ORDER BY applied_order`,
      [
        legs.map((l) => l.id),
        legs.map((l) => l.userId),
        legs.map((l) => l.type),
        legs.map((l) => l.kind),
        legs.map((l) => l.amountMinor.toString()),
        legs.map((l) => l.balanceAfterMinor.toString()),
        // Nulls inside a uuid[] are fine for PostgreSQL; knex's binding type just does not say so.
        legs.map((l) => l.transferId) as string[],
        legs.map((l) => l.counterpartyUserId) as string[],
        legs.map((l) => l.createdAt.toISOString()),
      ],
    );
    if (inserted.rowCount !== legs.length) throw new Error(`wrote ${inserted.rowCount} ledger rows instead of ${legs.length}`);
  }
  if (batch.outcomes.length > 0) {
    const o = batch.outcomes;
    const stored = await trx.raw<{ rowCount: number }>(
      `UPDATE idempotency_keys k SET response_status = s.status, response_body = s.body::json
         FROM unnest(?::text[], ?::text[], ?::int[], ?::text[]) AS s(endpoint, idempotency_key, status, body)
        WHERE k.endpoint = s.endpoint AND k.idempotency_key = s.idempotency_key`,
      [o.map((x) => x.endpoint), o.map((x) => x.key), o.map((x) => x.status), o.map((x) => JSON.stringify(x.body))],
    );
    if (stored.rowCount !== o.length) throw new Error(`stored ${stored.rowCount} idempotent outcomes instead of ${o.length}`);
  }
  return after;
}
