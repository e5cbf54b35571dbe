/**
 * NATS request/reply contract for balances between user-service (requester) and
 * transaction-service (responder, in a queue group so replicas share the load).
 */
export const BALANCE_SUBJECT = 'wallet.balance.get';
export const BALANCE_QUEUE_GROUP = 'transaction-service';

export interface BalanceRequest {
  user_id: string;
}

/**
 * `busy`: the responder already holds as many unanswered requests as it accepts (its budget); it
 * answers at once rather than queue without bound. The requester should retry a little later.
 */
export type BalanceReply =
  | { ok: true; user_id: string; balance: string }
  | { ok: false; error: 'user_not_found' | 'invalid_request' | 'internal_error' | 'busy' };
