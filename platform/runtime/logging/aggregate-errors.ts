import type { Logger } from 'pino';

export interface ErrorAggregator {
  /** Counts one failure; only the first of an interval is logged at once. */
  record(error: unknown, context?: Record<string, unknown>): void;
  /** Logs what is still counted and stops the timer. */
  stop(): void;
}

/**
 * Logs a repeated failure as a count per interval instead of a line per occurrence: a flood of
 * bad or failing requests (hundreds of thousands a second on a message bus) must not turn into as
 * many log lines, which cost more CPU and disk than the requests themselves. The first failure of
 * a quiet period is logged in full at once, so a single failure is never delayed or hidden.
 */
export function createErrorAggregator(logger: Logger, options: { message: string; intervalMs?: number }): ErrorAggregator {
  const intervalMs = options.intervalMs ?? 10_000;
  let counted = 0;
  let lastError: unknown;
  let lastContext: Record<string, unknown> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const flush = (): void => {
    timer = undefined;
    if (counted === 0) return;
    logger.error({ err: lastError, ...lastContext, count: counted, interval_ms: intervalMs }, `${options.message} (repeated)`);
    counted = 0;
    lastError = undefined;
    lastContext = undefined;
    // Keep the window open while failures go on, so each interval yields at most one line.
    timer = setTimeout(flush, intervalMs);
    timer.unref();
  };

  return {
    record(error, context) {
      if (timer === undefined) {
        logger.error({ err: error, ...context }, options.message);
        timer = setTimeout(flush, intervalMs);
        timer.unref();
        return;
      }
      counted += 1;
      lastError = error;
      lastContext = context;
    },
    stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (counted > 0) logger.error({ err: lastError, ...lastContext, count: counted }, `${options.message} (repeated)`);
      counted = 0;
    },
  };
}
