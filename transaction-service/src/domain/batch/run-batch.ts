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
  /** All-or-nothing. Not supported yet: the engine will run such a batch as one unit (see runAtomically). */
  atomic: boolean;
  items: readonly BatchItem[];
}

/** An item's own outcome, in request order: the answer its single request would have got, or what that request would have failed with. */
export type BatchItemOutcome = { ok: true; outcome: AnsweredOutcome } | { ok: false; error: unknown };

export interface BatchDeps {
  money: Pick<MoneyEngine, 'submit'>;
}

/** Runs a batch: each item on its own (the default), or — once the engine offers it — all or none. */
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
 * The seam for `atomic: true`: every item applied in one engine batch (one transaction) or none,
 * which needs the engine's help (a batch that is not split, whose refusal aborts it). Until then
 * such a request is refused as a whole, before anything is queued.
 */
function runAtomically(_deps: BatchDeps, _items: readonly BatchItem[]): Promise<BatchItemOutcome[]> {
  return Promise.reject(new AppError('validation_failed', 'atomic batches are not supported yet'));
}
