import type { Knex } from '@wallet/platform';

/**
 * Retention of idempotency keys. Claiming, reading and completing keys happen a batch at a time
 * inside the money transaction (money-batch-repository); what is left here is the clean-up.
 */

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
