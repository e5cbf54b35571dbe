import Router from '@koa/router';
import type { Context } from 'koa';
import { PROBLEM_CONTENT_TYPE, requestBody } from '@wallet/platform';
import type { OperationOutcome } from '../../domain/idempotency';
import type { WalletService } from '../../domain/wallet-service';

/**
 * Thin routes: read the request, call the domain, write the outcome. No logic lives here.
 * (GET /internal/reconcile is on the operators' listener: entry-points/operator.)
 */
export function createWalletRouter(wallet: WalletService): Router {
  const router = new Router();

  router.post('/add-money', async (ctx) => {
    respond(ctx, await wallet.addMoney(requestBody(ctx), idempotencyKeyOf(ctx)));
  });

  router.post('/transfer', async (ctx) => {
    respond(ctx, await wallet.transfer(requestBody(ctx), idempotencyKeyOf(ctx)));
  });

  router.get('/users/:user_id/balance', async (ctx) => {
    ctx.body = await wallet.getBalance(ctx.params.user_id);
  });

  router.get('/users/:user_id/transactions', async (ctx) => {
    ctx.body = await wallet.listTransactions(ctx.params.user_id, ctx.query);
  });

  return router;
}

function idempotencyKeyOf(ctx: Context): string | undefined {
  const value = ctx.get('idempotency-key');
  return ctx.headers['idempotency-key'] === undefined ? undefined : value;
}

function respond(ctx: Context, outcome: OperationOutcome): void {
  ctx.status = outcome.status;
  ctx.body = outcome.body;
  if (outcome.status >= 400) ctx.type = PROBLEM_CONTENT_TYPE;
  if (outcome.replayed) ctx.set('Idempotent-Replayed', 'true');
}
