import type { Knex } from 'knex';
import type { Logger } from 'pino';

/** SQLSTATEs after which the whole transaction can be re-run safely: nothing of it was committed. */
const RETRYABLE_SQLSTATES = new Set(['40P01', '40001']);

export function isRetryableTransactionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RETRYABLE_SQLSTATES.has(code);
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
      const delayMs = Math.random() * baseDelayMs * 2 ** attempt;
      logger?.debug({ attempt, code: (error as { code: string }).code, delayMs }, 'retrying transaction');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

/** The SQLSTATE of a PostgreSQL error, when it is one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
