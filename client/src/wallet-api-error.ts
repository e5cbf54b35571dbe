import type { BatchResult, Problem } from './generated/api-types';

/** A service's error code (the problem document's `code`), or the client's own when no usable answer came. */
export type WalletErrorCode = Problem['code'] | 'network_error' | 'unexpected_response';

/**
 * The one error the client throws. `status` is the HTTP status (0 when no answer came at all),
 * `code` the service's stable code, `detail` its words for people. An error of a money call after
 * retries were exhausted may still have been applied: retry it with the same idempotency key
 * (`idempotencyKey`), never with a new one.
 */
export class WalletApiError extends Error {
  readonly status: number;
  readonly code: WalletErrorCode;
  readonly detail: string;
  /** The problem document, when the service sent one. */
  readonly problem: Problem | undefined;
  /** Seconds the service asked to wait before a retry (Retry-After), when it did. */
  readonly retryAfterSeconds: number | undefined;
  /** The key the money call was sent with. */
  readonly idempotencyKey: string | undefined;
  /** An atomic batch not applied (422 atomic_batch_refused, or its 503/500): each operation's result, in request order. */
  readonly results: BatchResult[] | undefined;

  constructor(fields: {
    status: number;
    code: WalletErrorCode;
    detail: string;
    problem?: Problem;
    retryAfterSeconds?: number;
    idempotencyKey?: string;
    cause?: unknown;
  }) {
    super(`${fields.status} ${fields.code}: ${fields.detail}`, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = 'WalletApiError';
    this.status = fields.status;
    this.code = fields.code;
    this.detail = fields.detail;
    this.problem = fields.problem;
    this.retryAfterSeconds = fields.retryAfterSeconds;
    this.idempotencyKey = fields.idempotencyKey;
    this.results = fields.problem === undefined ? undefined : batchResultsOf(fields.problem);
  }
}

/** The `results` an atomic batch's refusal carries, or undefined when the problem has none. */
export function batchResultsOf(problem: Problem): BatchResult[] | undefined {
  const results = (problem as { results?: unknown }).results;
  return Array.isArray(results) ? (results as BatchResult[]) : undefined;
}

export function isProblem(body: unknown): body is Problem {
  if (typeof body !== 'object' || body === null) return false;
  const candidate = body as Record<string, unknown>;
  return typeof candidate.code === 'string' && typeof candidate.status === 'number' && typeof candidate.detail === 'string';
}

/** The error for a status >= 400 and its body. */
export function errorFromResponse(status: number, body: unknown, options: { retryAfterSeconds?: number; idempotencyKey?: string } = {}): WalletApiError {
  if (isProblem(body)) return new WalletApiError({ status, code: body.code, detail: body.detail, problem: body, ...options });
  return new WalletApiError({ status, code: 'unexpected_response', detail: `HTTP ${status} without a problem document`, ...options });
}
