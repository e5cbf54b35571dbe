import Router from '@koa/router';
import { requestBody } from '@wallet/platform';
import type { CreatedUser } from '../../domain/create-user';
import type { BalanceQuery, BalanceView } from '../../domain/get-balance';

export interface UserRoutesHandlers {
  createUser(input: unknown): Promise<CreatedUser>;
  getBalance(query: BalanceQuery): Promise<BalanceView>;
}

/** Thin HTTP mapping: read the request, call the domain, write the response. */
export function createUserRouter(handlers: UserRoutesHandlers): Router {
  const router = new Router();

  router.post('/users', async (ctx) => {
    ctx.body = await handlers.createUser(requestBody(ctx));
    ctx.status = 201;
  });

  // GET with a JSON body is what the brief's clients send; the query form is what caches, curl
  // and browsers can send. Both are accepted.
  router.get('/balance', async (ctx) => {
    ctx.body = await handlers.getBalance({ queryEmail: ctx.query.email, body: requestBody(ctx) });
  });

  return router;
}
