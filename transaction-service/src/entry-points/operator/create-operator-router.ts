import Router from '@koa/router';
import { AppError } from '@wallet/platform';
import type { ReconcileReport } from '../../domain/reconcile-balances';

export interface OperatorRouterOptions {
  /** Runs a reconciliation (e.g. `() => reconcileBalances(knex)`). */
  reconcile: () => Promise<ReconcileReport>;
}

/**
 * Routes for operators only, served on their own listener (OPERATOR_HOST:OPERATOR_PORT, the
 * loopback by default), never on the public API port: a reconciliation scans the whole ledger.
 */
export function createOperatorRouter(options: OperatorRouterOptions): Router {
  const router = new Router();
  let running = false;

  // 200 with ok=false on a mismatch, because the check itself worked. One at a time per process,
  // answered at once (429) instead of queued: thirty concurrent scans slowed every transfer from
  // milliseconds to seconds. reconcileBalances also refuses to run beside another instance's.
  router.get('/internal/reconcile', async (ctx) => {
    if (running) throw new AppError('reconcile_in_progress', 'A reconciliation is already running; retry when it is done');
    running = true;
    try {
      ctx.body = await options.reconcile();
    } finally {
      running = false;
    }
  });

  return router;
}
