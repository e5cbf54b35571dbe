import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { sqlState } from '../errors/error-fields';
import { fullJitterBackoffMs, sleep } from '../retry/backoff';

/** SQLSTATEs after which the whole transaction can be re-run safely: nothing of it was committed. */
const RETRYABLE_SQLSTATES = new Set(['40P01', '40001']);

export function isRetryableTransactionError(error: unknown): boolean {
  return RETRYABLE_SQLSTATES.has(sqlState(error) ?? '');
}

export interface RetryOptions {
  maxAttempts: number;
  baseDelayMs: number;
  logger?: Logger;
}

const DEFAULT_RETRY: RetryOptions = { maxAttempts: 8, baseDelayMs: 5 };

/**
 * Runs `work` in a transaction and re-runs it from the start after a deadlock (40P01) or a
 * serialization failure (40001). PostgreSQL rolled the failed attempt back entirely, so a re-run
 * cannot apply anything twice. `work` must not have side effects outside the transaction.
 */
export async function runInTransaction<T>(
  knex: Knex,
  work: (trx: Knex.Transaction) => Promise<T>,
  options: Partial<RetryOptions> = {},
): Promise<T> {
  const { maxAttempts, baseDelayMs, logger } = { ...DEFAULT_RETRY, ...options };
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await knex.transaction(work);
    } catch (error) {
      if (!isRetryableTransactionError(error) || attempt >= maxAttempts) throw error;
      // No cap needed: maxAttempts bounds the exponent (8 attempts of 5 ms: at most 1.28 s).
      const delayMs = fullJitterBackoffMs(attempt + 1, { baseMs: baseDelayMs, capMs: Number.POSITIVE_INFINITY });
      logger?.debug({ attempt, code: sqlState(error), delayMs }, 'retrying transaction');
      await sleep(delayMs);
    }
  }
}
