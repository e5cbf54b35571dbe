import { AppError, type Logger } from '@wallet/platform';
import type { BalanceRequestOutcome } from '../data-access/request-balance';
import type { FindUserByEmail } from './user-lookup-cache';

export interface BalanceView {
  email: string;
  balance: string;
}

export interface GetBalanceDeps {
  findUser: FindUserByEmail;
  logger: Logger;
  requestBalance: (userId: string) => Promise<BalanceRequestOutcome>;
}

/**
 * The user's balance as transaction-service knows it. user-service stores no balance and never
 * makes one up: when transaction-service cannot answer, the client is told so (503/504).
 */
export async function getBalance(deps: GetBalanceDeps, email: string): Promise<BalanceView> {
  const user = await deps.findUser(email);
  if (!user) throw new AppError('user_not_found', 'No user has this email');

  const outcome = await deps.requestBalance(user.user_id);
  switch (outcome.kind) {
    case 'replied': {
      const { reply } = outcome;
      if (reply.ok) {
        if (reply.user_id !== user.user_id) {
          deps.logger.error({ expected: user.user_id, got: reply.user_id }, 'balance reply for another user');
          throw new AppError('balance_unavailable', 'The balance service answered for another user');
        }
        return { email: user.email, balance: reply.balance };
      }
      // The user exists here but its user-created event has not reached transaction-service yet:
      // no money can have been added to it, so its balance is truly zero.
      if (reply.error === 'user_not_found') return { email: user.email, balance: '0.00' };
      // transaction-service is at its budget of balance requests: a moment later it may not be.
      if (reply.error === 'busy') throw new AppError('balance_unavailable', 'The balance service is busy; retry shortly');
      deps.logger.error({ user_id: user.user_id, error: reply.error }, 'balance service refused the request');
      throw new AppError('balance_unavailable', 'The balance service could not answer');
    }
    case 'overloaded':
      throw new AppError('balance_unavailable', 'Too many balance requests are waiting; retry shortly');
    case 'no_responders':
      throw new AppError('balance_unavailable', 'No balance service instance is running');
    case 'disconnected':
      throw new AppError('balance_unavailable', 'The connection to the balance service is down');
    case 'timeout':
      throw new AppError('balance_timeout', 'The balance service did not answer in time');
    case 'invalid_reply':
    case 'failed':
      deps.logger.error({ user_id: user.user_id, outcome }, 'balance request failed');
      throw new AppError('balance_unavailable', 'The balance service could not answer');
  }
}
