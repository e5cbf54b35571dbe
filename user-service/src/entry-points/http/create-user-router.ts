import Router from '@koa/router';
import type { CreatedUser, NewUser } from '../../domain/create-user';
import type { BalanceView } from '../../domain/get-balance';
import { parseBalanceRequest, parseCreateUserRequest, validateRequest, type BalanceRequestInput, type ValidatedState } from './user-requests';

export interface UserRoutesHandlers {
  createUser(input: NewUser): Promise<CreatedUser>;
  getBalance(email: string, asOfMs?: number): Promise<BalanceView>;
}

/** Thin HTTP mapping: validate the request (its own middleware), call the domain, write the response. */
export function createUserRouter(handlers: UserRoutesHandlers): Router {
  const router = new Router();

  router.post<ValidatedState<NewUser>>('/users', validateRequest(parseCreateUserRequest), async (ctx) => {
    ctx.body = await handlers.createUser(ctx.state.input);
    ctx.status = 201;
  });

  router.get<ValidatedState<BalanceRequestInput>>('/balance', validateRequest(parseBalanceRequest), async (ctx) => {
    ctx.body = await handlers.getBalance(ctx.state.input.email, ctx.state.input.asOfMs);
  });

  return router;
}
