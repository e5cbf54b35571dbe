/**
 * NATS request/reply contract for balances between user-service (requester) and
 * transaction-service (responder, in a queue group so replicas share the load).
 */
export const BALANCE_SUBJECT = 'wallet.balance.get';
export const BALANCE_QUEUE_GROUP = 'transaction-service';
/**
 * Where balance replies go: user-service's reply inbox (natsInboxPrefix('user-service') and a dot).
 * The server lets transaction-service publish nowhere else (nats-server.conf), and the responder
 * does not answer a request that names another reply subject.
 */
export const BALANCE_REPLY_PREFIX = '_INBOX_user-service.';

export interface BalanceRequest {
  user_id: string;
  /**
   * Optional: the balance at this instant (RFC 3339, as user-service sends it: `toISOString()`),
   * answered by the rules of GET /users/{user_id}/balance?as_of= (ADR 11). Absent: the current balance.
   */
  as_of?: string;
}

/**
 * Every reply names the user it answers for (`user_id`), whatever its kind: user-service accepts a
 * reply only for the user it asked about, so a reply meant for another request (or forged) can
 * never be taken for this one, not even a `user_not_found` (which user-service turns into "0.00").
 * The one exception is `invalid_request` to a request that named no valid user id: there is none
 * to echo, and user-service, which always sends one, discards such a reply.
 *
 * `busy`: the responder already holds as many unanswered requests as it accepts (its budget); it
 * answers at once rather than queue without bound. The requester should retry a little later.
 */
export type BalanceReply =
  | { ok: true; user_id: string; balance: string; available_balance: string; as_of?: string; sequence?: string }
  | { ok: false; error: BalanceReplyError; user_id: string; as_of?: string }
  | { ok: false; error: 'invalid_request' };

/**
 * A reply to a request with `as_of` echoes it (as transaction-service normalised it: `toISOString()`),
 * on answers and refusals alike, and an answer carries the `sequence` of the last change it counts;
 * user-service takes a reply only when it names both the user and the instant asked about, so the
 * current balance can never be taken for a past one, nor one instant's for another's.
 * `as_of_not_settled`: the instant is too recent to be answered for good yet (ADR 11);
 * `invalid_as_of`: it is not an instant, or is in the future by transaction-service's clock.
 */
export type BalanceReplyError = 'user_not_found' | 'invalid_request' | 'internal_error' | 'busy' | 'as_of_not_settled' | 'invalid_as_of';
