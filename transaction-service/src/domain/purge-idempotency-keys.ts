import type { Knex, Logger } from '@wallet/platform';
import { purgeExpiredIdempotencyKeys } from '../data-access/idempotency-repository';
import { purgeBatchMarkers } from '../data-access/money-transaction';

/**
 * Deletes idempotency keys past their retention (at least 24 h) every `intervalMs`, and the money
 * batches' markers with them: a marker only settles a lost COMMIT, which never takes that long.
 */
export function startIdempotencyKeyPurge(options: {
  knex: Knex;
  logger: Logger;
  ttlHours: number;
  intervalMs: number;
}): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const tick = (): void => {
    running = Promise.all([purgeExpiredIdempotencyKeys(options.knex, options.ttlHours), purgeBatchMarkers(options.knex, options.ttlHours)])
      .then(([deleted, markers]) => {
        if (deleted > 0 || markers > 0) options.logger.info({ deleted, markers }, 'purged expired idempotency keys and batch markers');
      })
      .catch((error: unknown) => options.logger.warn({ err: error }, 'idempotency key purge failed; will retry'));
  };
  const timer = setInterval(tick, options.intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
