import { toProblemResponse, type AppError } from '@wallet/platform';
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

/** An atomic batch happened when every item got a success response; any refusal means none of it did. */
export function atomicBatchApplied(outcomes: readonly BatchItemOutcome[]): boolean {
  return outcomes.every((outcome) => outcome.ok && outcome.outcome.status < 400);
}
