import type { Knex } from '@wallet/platform';
import { deleteOlderThan } from './delete-older-than';

/**
 * Retention of idempotency keys. Claiming, reading and completing keys happen a batch at a time
 * inside the money transaction (money-batch-repository); what is left here is the clean-up.
 */

/** Deletes keys older than the retention, in slices so a large purge never holds locks for long. */
export function purgeExpiredIdempotencyKeys(knex: Knex, olderThanHours: number, sliceSize = 5_000, maxSlices = 1_000): Promise<number> {
  return deleteOlderThan(knex, 'idempotency_keys', olderThanHours, sliceSize, maxSlices);
}
