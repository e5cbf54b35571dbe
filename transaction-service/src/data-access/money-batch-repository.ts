import type { Knex } from '@wallet/platform';
import type { LedgerLeg, TransferRow } from '../domain/transfers/money-command';

/**
 * The set-based SQL of one money batch. Every statement takes whole columns as typed arrays
 * (`unnest($1::uuid[], …)`), so a batch of any size is a fixed number of statements with a
 * fixed number of parameters. BIGINT values travel as decimal strings and are converted to
 * bigint here, never in the domain.
 */

/**
 * An open batch transaction. Its id is learnt from the batch's write (writeMoneyBatch), which
 * every batch runs before COMMIT, so settling a lost COMMIT reply costs no extra round trip.
 */
export interface MoneyTransaction {
  trx: Knex.Transaction;
  xid: string | undefined;
}

export async function beginMoneyTransaction(knex: Knex): Promise<MoneyTransaction> {
  const trx = await knex.transaction();
  // knex reports a failed COMMIT or a rollback on executionPromise, not on commit(); keep the
  // rejection handled here and read it in commitMoneyTransaction.
  trx.executionPromise.catch(() => undefined);
  return { trx, xid: undefined };
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

/** What the database holds after a batch's write, for the caller to check. */
export interface WrittenBatch {
  /** The transaction's id (for settling a lost COMMIT reply; assigned by this write at the latest). */
  xid: string;
  balances: Map<string, bigint>;
}

/**
 * Writes a decided batch in ONE statement (one round trip, whatever the batch size): balances by
 * their net change, transfers, ledger legs (seq assigned in applied order, while the batch holds
 * the users' row locks) and the keys' stored outcomes. Foreign keys are checked at the end of the
 * statement, so ledger legs may refer to transfers inserted beside them. Row counts are checked
 * here; the balances are returned for the caller to compare with its own.
 */
export async function writeMoneyBatch(trx: Knex.Transaction, batch: MoneyBatchWrite): Promise<WrittenBatch> {
  const { balanceChanges: changes, transfers, legs, outcomes } = batch;
  const result = await trx.raw<{
    rows: Array<{ xid: string; transfers: string; legs: string; stored: string; user_ids: string[] | null; balances: string[] | null }>;
  }>(
    `WITH moved AS (
       UPDATE users u SET balance_minor = u.balance_minor + c.delta
         FROM unnest((:changeUsers)::uuid[], (:changeDeltas)::bigint[]) AS c(user_id, delta)
        WHERE u.user_id = c.user_id
       RETURNING u.user_id, u.balance_minor
     ), new_transfers AS (
       INSERT INTO transfers (transfer_id, from_user_id, to_user_id, amount_minor, created_at)
       SELECT * FROM unnest((:transferIds)::uuid[], (:transferFrom)::uuid[], (:transferTo)::uuid[],
                            (:transferAmounts)::bigint[], (:transferTimes)::timestamptz[])
       RETURNING 1
     ), new_legs AS (
       INSERT INTO transactions
         (id, user_id, type, kind, amount_minor, balance_after_minor, transfer_id, counterparty_user_id, created_at)
       SELECT id, user_id, type, kind, amount_minor, balance_after_minor, transfer_id, counterparty_user_id, created_at
         FROM unnest((:legIds)::uuid[], (:legUsers)::uuid[], (:legTypes)::text[], (:legKinds)::text[], (:legAmounts)::bigint[],
                     (:legBalances)::bigint[], (:legTransfers)::uuid[], (:legCounterparties)::uuid[], (:legTimes)::timestamptz[])
              WITH ORDINALITY AS l(id, user_id, type, kind, amount_minor, balance_after_minor, transfer_id,
                                   counterparty_user_id, created_at, applied_order)
        ORDER BY applied_order
       RETURNING 1
     ), stored AS (
       UPDATE idempotency_keys k SET response_status = s.status, response_body = s.body::json
         FROM unnest((:outcomeEndpoints)::text[], (:outcomeKeys)::text[], (:outcomeStatuses)::int[], (:outcomeBodies)::text[])
              AS s(endpoint, idempotency_key, status, body)
        WHERE k.endpoint = s.endpoint AND k.idempotency_key = s.idempotency_key
       RETURNING 1
     )
     SELECT pg_current_xact_id()::text AS xid,
            (SELECT count(*) FROM new_transfers) AS transfers,
            (SELECT count(*) FROM new_legs) AS legs,
            (SELECT count(*) FROM stored) AS stored,
            (SELECT array_agg(user_id) FROM moved) AS user_ids,
            (SELECT array_agg(balance_minor::text) FROM moved) AS balances`,
    {
      changeUsers: changes.map((c) => c.userId),
      changeDeltas: changes.map((c) => c.deltaMinor.toString()),
      transferIds: transfers.map((t) => t.transferId),
      transferFrom: transfers.map((t) => t.fromUserId),
      transferTo: transfers.map((t) => t.toUserId),
      transferAmounts: transfers.map((t) => t.amountMinor.toString()),
      transferTimes: transfers.map((t) => t.createdAt.toISOString()),
      legIds: legs.map((l) => l.id),
      legUsers: legs.map((l) => l.userId),
      legTypes: legs.map((l) => l.type),
      legKinds: legs.map((l) => l.kind),
      legAmounts: legs.map((l) => l.amountMinor.toString()),
      legBalances: legs.map((l) => l.balanceAfterMinor.toString()),
      legTransfers: legs.map((l) => l.transferId),
      legCounterparties: legs.map((l) => l.counterpartyUserId),
      legTimes: legs.map((l) => l.createdAt.toISOString()),
      outcomeEndpoints: outcomes.map((o) => o.endpoint),
      outcomeKeys: outcomes.map((o) => o.key),
      outcomeStatuses: outcomes.map((o) => o.status),
      outcomeBodies: outcomes.map((o) => JSON.stringify(o.body)),
    },
  );
  const row = result.rows[0]!;
  const counts = { transfers: Number(row.transfers), legs: Number(row.legs), stored: Number(row.stored) };
  if (counts.transfers !== transfers.length || counts.legs !== legs.length || counts.stored !== outcomes.length) {
    throw new Error(
      `a money batch wrote ${counts.transfers}/${transfers.length} transfers, ${counts.legs}/${legs.length} ledger rows, ` +
        `${counts.stored}/${outcomes.length} stored outcomes`,
    );
  }
  const userIds = row.user_ids ?? [];
  const balances = row.balances ?? [];
  return { xid: row.xid, balances: new Map(userIds.map((id, i) => [id, BigInt(balances[i]!)])) };
}
