import { setTimeout as sleep } from 'node:timers/promises';

/**
 * When and how long to wait before sending a call again. Only what is safe to send twice is ever
 * retried: a money call with its idempotency key (the service replays the first outcome), or a read.
 */
export interface RetryPolicy {
  /** Sends in all, the first included (bounded: a call never retries for ever). */
  maxAttempts: number;
  /** Full jitter: the n-th wait is uniform in [0, min(maxDelayMs, baseDelayMs * 2^(n-1))). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After longer than this is waited only this long (a misconfigured server cannot park a client for hours). */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 6, baseDelayMs: 50, maxDelayMs: 2_000, maxRetryAfterMs: 30_000 };

/**
 * 503: the service did nothing and says so (queue full, database away); 504: a gateway gave up
 * waiting; 409 idempotency_request_in_flight: the first copy of this key has no outcome yet. With
 * the same key each is safe to send again. A 500 is not retried: it is a bug, and a retry hides it.
 */
export function isRetryableStatus(status: number, code: string | undefined): boolean {
  return status === 503 || status === 504 || (status === 409 && code === 'idempotency_request_in_flight');
}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/** No answer came: the call may or may not have reached the service. */
export function isNetworkError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NETWORK_CODES.has(code);
}

/** The wait before attempt `attempt + 1`: capped full jitter, and never less than what Retry-After asked for. */
export function retryDelayMs(policy: RetryPolicy, attempt: number, retryAfterSeconds: number | undefined, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt - 1, 30));
  const jittered = Math.floor(random() * ceiling);
  if (retryAfterSeconds === undefined) return jittered;
  return Math.max(jittered, Math.min(policy.maxRetryAfterMs, retryAfterSeconds * 1_000));
}

/** Retry-After as seconds (delta-seconds only: the services send no dates). */
export function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^\d{1,6}$/.test(text.trim())) return undefined;
  return Number(text.trim());
}

export { sleep };
