import { AppError } from '@wallet/platform';
import type { AnsweredOutcome, KeyedCommand } from '../transfers/money-command';
import type { MoneyEngine } from '../transfers/money-engine';

/**
 * POST /batch as a use case (ADR 13): many money operations in one request, each answered exactly
 * as its single endpoint would have answered it at that point.
 */

/** One operation as the edge read it: a validated command, or the refusal of its input (answered in its place). */
export type BatchItem = { ok: true; command: KeyedCommand } | { ok: false; error: AppError };

export interface BatchRequest {
  /** All or nothing: the engine runs such a batch as one unit (see runAtomically). */
  atomic: boolean;
  items: readonly BatchItem[];
}

/** An item's own outcome, in request order: the answer its single request would have got, or what that request would have failed with. */
export type BatchItemOutcome = { ok: true; outcome: AnsweredOutcome } | { ok: false; error: unknown };

export interface BatchDeps {
  money: Pick<MoneyEngine, 'submit' | 'submitAtomic'>;
}

/** Runs a batch: each item on its own (the default), or all or none. */
export async function runBatch(deps: BatchDeps, request: BatchRequest): Promise<BatchItemOutcome[]> {
  if (request.atomic) return runAtomically(deps, request.items);
  return runIndependently(deps, request.items);
}

/**
 * Every valid item is handed to the engine synchronously, in request order, before any is awaited:
 * they queue exactly as that many single requests arriving together would, join the same group-commit
 * batches as everyone else's, and are decided in this order (engine.submit keeps arrival order). One
 * item's refusal, 503 (queue full) or failure is its own outcome; the others still run.
 */
async function runIndependently(deps: BatchDeps, items: readonly BatchItem[]): Promise<BatchItemOutcome[]> {
  const pending = items.map((item): Promise<BatchItemOutcome> => {
    if (!item.ok) return Promise.resolve(item);
    return deps.money.submit(item.command).then(
      (outcome) => ({ ok: true, outcome }),
      (error: unknown) => ({ ok: false, error }),
    );
  });
  return Promise.all(pending);
}

/**
 * `atomic: true`: every item applied, in order, in one engine batch (one transaction), or none
 * (MoneyEngine.submitAtomic, ADR 13). An invalid item refuses the whole batch before anything is
 * queued: it answers its own 400 and every other item 422 linked_operation_failed, and nothing is
 * stored (bad input changes nothing; the same request answers the same again).
 */
async function runAtomically(deps: BatchDeps, items: readonly BatchItem[]): Promise<BatchItemOutcome[]> {
  if (items.some((item) => !item.ok)) {
    return items.map((item) => (item.ok ? { ok: false, error: linkedFailure() } : item));
  }
  const commands = items.map((item) => (item as BatchItem & { ok: true }).command);
  let settled: Array<PromiseSettledResult<AnsweredOutcome>>;
  try {
    settled = await deps.money.submitAtomic(commands);
  } catch (error) {
    // Refused before anything was queued (queue full, shutting down): the same answer for every item.
    return items.map(() => ({ ok: false, error }));
  }
  // Each item's own outcome: one item's failure is never reported as another's.
  return settled.map((s): BatchItemOutcome => (s.status === 'fulfilled' ? { ok: true, outcome: s.value } : { ok: false, error: s.reason as unknown }));
}

function linkedFailure(): AppError {
  return new AppError('linked_operation_failed', 'Not applied: another operation of this atomic batch was refused');
}

