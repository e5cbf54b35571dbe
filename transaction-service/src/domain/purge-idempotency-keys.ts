import type { Knex, Logger } from '@wallet/platform';
import { purgeExpiredIdempotencyKeys } from '../data-access/idempotency-repository';

/** Deletes idempotency keys past their retention (at least 24 h) every `intervalMs`. */
export function startIdempotencyKeyPurge(options: {
  knex: Knex;
  logger: Logger;
  ttlHours: number;
  intervalMs: number;
}): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const tick = (): void => {
    running = purgeExpiredIdempotencyKeys(options.knex, options.ttlHours)
      .then((deleted) => {
        if (deleted > 0) options.logger.info({ deleted }, 'purged expired idempotency keys');
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
