import { AppError, type BalanceReplyError, type Logger } from '@wallet/platform';
import type { BalanceRequestOutcome } from '../data-access/request-balance';
import type { FindUserByEmail } from './user-lookup-cache';

export interface BalanceView {
  email: string;
  balance: string;
  /** The balance less the user's active holds (transaction-service's rules, ADR 12). */
  available_balance: string;
  /** Present when a past instant was asked about: that instant (ADR 11). */
  as_of?: string;
}

export interface GetBalanceDeps {
  findUser: FindUserByEmail;
  logger: Logger;
  requestBalance: (userId: string, asOf?: string) => Promise<BalanceRequestOutcome>;
}

/**
 * The user's balance as transaction-service knows it. user-service stores no balance and never
 * makes one up: when transaction-service cannot answer, the client is told so (503/504).
 */
export async function getBalance(deps: GetBalanceDeps, email: string, asOfMs?: number): Promise<BalanceView> {
  const user = await deps.findUser(email);
  if (!user) throw new AppError('user_not_found', 'No user has this email');

  // One spelling of the instant (UTC, milliseconds) on both sides: the reply must echo it exactly.
  const asOf = asOfMs === undefined ? undefined : new Date(asOfMs).toISOString();
  const instant = asOf === undefined ? {} : { as_of: asOf };
  const outcome = await deps.requestBalance(user.user_id, asOf);
  switch (outcome.kind) {
    case 'replied': {
      const { reply } = outcome;
      if (reply.ok) {
        if (reply.user_id !== user.user_id) {
          deps.logger.error({ expected: user.user_id, got: reply.user_id }, 'balance reply for another user');
          throw new AppError('balance_unavailable', 'The balance service answered for another user');
        }
        return { email: user.email, balance: reply.balance, available_balance: reply.available_balance, ...instant };
      }
      return refusal(deps, user, reply.error, instant);
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

function refusal(deps: GetBalanceDeps, user: { user_id: string; email: string }, error: BalanceReplyError, instant: { as_of?: string }): BalanceView {
  // The user exists here but its user-created event has not reached transaction-service yet:
  // no money can have been added to it, so its balance is truly zero (now and at any past instant).
  if (error === 'user_not_found') return { email: user.email, balance: '0.00', available_balance: '0.00', ...instant };
  // transaction-service is at its budget of balance requests: a moment later it may not be.
  if (error === 'busy') throw new AppError('balance_unavailable', 'The balance service is busy; retry shortly');
  if (error === 'as_of_not_settled') throw new AppError('as_of_not_settled', 'as_of is too recent to be answered for good yet; ask again in a moment');
  // Valid here, in the future by transaction-service's clock: the clocks differ by that much.
  if (error === 'invalid_as_of') throw new AppError('validation_failed', 'as_of is in the future');
  deps.logger.error({ user_id: user.user_id, error }, 'balance service refused the request');
  throw new AppError('balance_unavailable', 'The balance service could not answer');
}
