import type { Knex } from '@wallet/platform';

export interface StoredIdempotencyRecord {
  requestHash: string;
  responseStatus: number | null;
  responseBody: Record<string, unknown> | null;
}

/**
 * Claims a key inside the caller's transaction. If another transaction holds an uncommitted
 * claim on the same key, PostgreSQL makes this INSERT wait for it; once it commits the insert
 * conflicts (returns false) and its stored outcome is visible, once it rolls back we get the key.
 */
export async function claimIdempotencyKey(
  trx: Knex.Transaction,
  claim: { endpoint: string; key: string; requestHash: string },
): Promise<boolean> {
  const rows = (await trx('idempotency_keys')
    .insert({ endpoint: claim.endpoint, idempotency_key: claim.key, request_hash: claim.requestHash })
    .onConflict(['endpoint', 'idempotency_key'])
    .ignore()
    .returning('endpoint')) as unknown[];
  return rows.length === 1;
}

export async function findIdempotencyRecord(
  trx: Knex.Transaction,
  endpoint: string,
  key: string,
): Promise<StoredIdempotencyRecord | undefined> {
  const row = (await trx('idempotency_keys')
    .select('request_hash', 'response_status', 'response_body')
    .where({ endpoint, idempotency_key: key })
    .first()) as
    | { request_hash: string; response_status: number | null; response_body: Record<string, unknown> | null }
    | undefined;
  return row
    ? { requestHash: row.request_hash, responseStatus: row.response_status, responseBody: row.response_body }
    : undefined;
}

export async function completeIdempotencyKey(
  trx: Knex.Transaction,
  record: { endpoint: string; key: string; status: number; body: Record<string, unknown> },
): Promise<void> {
  await trx('idempotency_keys')
    .where({ endpoint: record.endpoint, idempotency_key: record.key })
    .update({ response_status: record.status, response_body: JSON.stringify(record.body) });
}

/** Deletes keys older than the retention, in batches so a large purge never holds locks for long. */
export async function purgeExpiredIdempotencyKeys(knex: Knex, olderThanHours: number, batchSize = 5_000): Promise<number> {
  let total = 0;
  for (;;) {
    const result = await knex.raw<{ rowCount: number }>(
      `DELETE FROM idempotency_keys WHERE ctid IN (
         SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(hours => ?) LIMIT ?
       )`,
      [olderThanHours, batchSize],
    );
    total += result.rowCount;
    if (result.rowCount < batchSize) return total;
  }
}
