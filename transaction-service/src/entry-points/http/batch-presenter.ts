import { AppError, toProblemResponse } from '@wallet/platform';
import type { BatchItemOutcome } from '../../domain/batch/run-batch';

/**
 * One entry of POST /batch's `results`: the status and body its single endpoint would have answered,
 * whether it is a replay (that endpoint's `Idempotent-Replayed: true`), and `retry_after` where that
 * endpoint would have sent a Retry-After header (seconds; a 503 when the queue is full, say): a
 * response has one set of headers, so an item's travel in its entry (ADR 13).
 */
export interface BatchResultItem {
  status: number;
  body: Record<string, unknown>;
  replayed: boolean;
  retry_after?: number;
}

/** `toClientError` names what the client may see of a thrown error (logging the rest), as the error middleware does. */
export function toBatchResult(outcome: BatchItemOutcome, toClientError: (error: unknown) => AppError): BatchResultItem {
  if (outcome.ok) {
    const { status, body, replayed } = outcome.outcome;
    return { status, body, replayed };
  }
  const { status, headers, body } = toProblemResponse(toClientError(outcome.error));
  const retryAfter = headers['Retry-After'];
  return { status, body: { ...body }, replayed: false, ...(retryAfter === undefined ? {} : { retry_after: Number(retryAfter) }) };
}

/**
 * What an atomic batch's response says as a whole, from its results; undefined when it was applied
 * (every item a success). Only a refusal of an operation is "none was applied" (422): a batch turned
 * away for a passing reason (queue full, a row held elsewhere; nothing stored under its keys) is a
 * 503 to send again whole, and one whose outcome is not known (a COMMIT that could not be settled)
 * is a 500 that says so — never "none was applied" for what may have happened.
 */
export function atomicBatchRefusal(results: readonly BatchResultItem[]): AppError | undefined {
  const failed = results.filter((r) => r.status >= 400 && r.body.code !== 'linked_operation_failed');
  if (failed.length === 0 && results.every((r) => r.status < 400)) return undefined;
  if (failed.some((r) => r.status >= 500 && r.status !== 503 && r.status !== 504)) {
    return new AppError('internal_error', 'The outcome of the atomic batch is not known: send it again with the same keys, or check the history');
  }
  if (failed.length > 0 && failed.every((r) => isPassing(r))) {
    const retryAfterSeconds = Math.max(1, ...failed.map((r) => r.retry_after ?? 0));
    return new AppError('service_unavailable', 'The atomic batch was not applied for now: send it again, whole, with the same keys', { retryAfterSeconds });
  }
  return new AppError('atomic_batch_refused', 'One or more operations were refused; none was applied');
}

/** A result the single endpoint's client would retry with its key: nothing about it is stored. */
function isPassing(result: BatchResultItem): boolean {
  return result.status === 503 || result.status === 504 || (result.status === 409 && result.body.code === 'idempotency_request_in_flight');
}
