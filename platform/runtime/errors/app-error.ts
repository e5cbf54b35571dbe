/**
 * The one error type the services throw for anything a client should see.
 * The set of codes is closed: each code maps once, here, to an HTTP status and a title,
 * so every endpoint answers the same problem+json for the same mistake. A code for a passing
 * condition (a dependency away, a budget full) also says when to retry: every error of that code
 * carries it as Retry-After unless its thrower says otherwise.
 */
export const ERROR_CATALOG = {
  validation_failed: { status: 400, title: 'The request is not valid' },
  invalid_amount: { status: 400, title: 'The amount is not valid' },
  self_transfer: { status: 400, title: 'Sender and receiver are the same user' },
  invalid_idempotency_key: { status: 400, title: 'The Idempotency-Key header is not valid' },
  malformed_json: { status: 400, title: 'The body is not valid JSON' },
  malformed_request: { status: 400, title: 'The request is not valid HTTP' },
  // A past instant too recent to be answered for good yet (ADR 11): a moment later it will be.
  as_of_not_settled: { status: 400, title: 'The instant is too recent to be answered yet', retryAfterSeconds: 1 },
  not_found: { status: 404, title: 'No such resource' },
  user_not_found: { status: 404, title: 'User not found' },
  hold_not_found: { status: 404, title: 'Hold not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  not_acceptable: { status: 406, title: 'None of the accepted media types can be produced' },
  duplicate_email: { status: 409, title: 'A user with this email already exists' },
  hold_expired: { status: 409, title: 'The hold has expired' },
  hold_already_captured: { status: 409, title: 'The hold was already captured' },
  hold_already_voided: { status: 409, title: 'The hold was already voided' },
  idempotency_request_in_flight: { status: 409, title: 'A request with this Idempotency-Key is still being processed' },
  request_timeout: { status: 408, title: 'The request did not arrive in time' },
  expectation_failed: { status: 417, title: 'The Expect header cannot be met' },
  payload_too_large: { status: 413, title: 'The body is too large' },
  unsupported_media_type: { status: 415, title: 'The body must be application/json' },
  headers_too_large: { status: 431, title: 'The request headers are too large' },
  insufficient_funds: { status: 422, title: 'Insufficient funds' },
  balance_limit_exceeded: { status: 422, title: 'The balance would exceed its limit' },
  // An atomic batch's operation that was not refused itself, but not applied because another was.
  // POST /batch with atomic: true, not applied: the problem document carries every operation's result.
  atomic_batch_refused: { status: 422, title: 'The atomic batch was not applied: an operation was refused' },
  linked_operation_failed: { status: 422, title: 'Not applied: another operation of the atomic batch was refused' },
  capture_exceeds_hold: { status: 422, title: 'The capture exceeds the held amount' },
  idempotency_key_reused: { status: 422, title: 'The Idempotency-Key was used with a different request' },
  reconcile_in_progress: { status: 429, title: 'A reconciliation is already running' },
  internal_error: { status: 500, title: 'Internal error' },
  service_unavailable: { status: 503, title: 'Service unavailable', retryAfterSeconds: 1 },
  balance_unavailable: { status: 503, title: 'The balance service is unavailable', retryAfterSeconds: 1 },
  balance_timeout: { status: 504, title: 'The balance service did not answer in time' },
} as const satisfies Record<string, { status: number; title: string; retryAfterSeconds?: number }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export interface AppErrorOptions {
  cause?: unknown;
  /** Sent as Retry-After; the code's own default (ERROR_CATALOG) when absent, none when null. */
  retryAfterSeconds?: number | null;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  /**
   * Response headers the error travels with (as Koa's own handler copies `err.headers`): the
   * problem writers send them with the problem document.
   */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, detail?: string, options: AppErrorOptions = {}) {
    const entry = ERROR_CATALOG[code];
    super(detail ?? entry.title, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = entry.status;
    this.title = entry.title;
    const retryAfter = options.retryAfterSeconds === undefined ? defaultRetryAfterSeconds(code) : options.retryAfterSeconds;
    this.headers = retryAfter === null || retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) };
  }
}

function defaultRetryAfterSeconds(code: ErrorCode): number | undefined {
  const entry = ERROR_CATALOG[code];
  return 'retryAfterSeconds' in entry ? entry.retryAfterSeconds : undefined;
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/**
 * The longest `detail` a client ever gets, in UTF-8 bytes. A detail often quotes the request (a
 * path, a field name), so without a cap an error could be far larger than the request that caused
 * it; every problem passes through toProblem, so this is the one place that bounds them all.
 */
export const MAX_PROBLEM_DETAIL_BYTES = 2_048;

/** Cuts `text` to at most `maxBytes` UTF-8 bytes on a code point boundary, marking the cut with "…". */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const ellipsis = '…';
  let bytes = Buffer.byteLength(ellipsis);
  let end = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char);
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += char.length;
  }
  return `${text.slice(0, end)}${ellipsis}`;
}

export function toProblem(error: AppError): ProblemDetails {
  return {
    type: `urn:problem-type:wallet:${error.code}`,
    title: error.title,
    status: error.status,
    detail: truncateUtf8(error.message, MAX_PROBLEM_DETAIL_BYTES),
    code: error.code,
  };
}
