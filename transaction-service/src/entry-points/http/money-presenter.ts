import { PROBLEM_HEADERS, toProblemResponse, type HttpResponse } from '@wallet/platform';
import type { OperationOutcome, StoredResponse } from './stored-response';
import { formatMinor } from '../../domain/money';
import type { HoldState, MoneyResult } from '../../domain/transfers/money-command';

/**
 * The HTTP response of a money operation. The engine calls it inside the batch's transaction,
 * so a key's stored response is exactly what the first caller received (ADR 2).
 */
export function presentMoneyResult(result: MoneyResult): StoredResponse {
  if (!result.ok) {
    // Only status and body are stored: a refusal decided in a batch (404, 422) has no other header.
    const { status, body } = toProblemResponse(result.error);
    return { status, body: { ...body } };
  }
  if (result.op === 'transfer') {
    return {
      status: 201,
      body: {
        transfer_id: result.transferId,
        from_user_id: result.fromUserId,
        to_user_id: result.toUserId,
        amount: formatMinor(result.amountMinor),
        updated_balance: formatMinor(result.senderBalanceAfterMinor),
        available_balance: formatMinor(result.senderAvailableAfterMinor),
        created_at: result.createdAt.toISOString(),
      },
    };
  }
  if (result.op === 'hold' || result.op === 'capture' || result.op === 'void') {
    const body = { ...toHoldBody(result.hold), available_balance: formatMinor(result.senderAvailableAfterMinor) };
    return { status: result.op === 'hold' ? 201 : 200, body };
  }
  // The sweeper's own operation: nobody reads its answer, and it has no key to store it under.
  if (result.op === 'release-expired') return { status: 200, body: { user_id: result.userId } };
  return {
    status: 200,
    body: {
      user_id: result.userId,
      transaction_id: result.transactionId,
      amount: formatMinor(result.amountMinor),
      updated_balance: formatMinor(result.balanceAfterMinor),
      available_balance: formatMinor(result.availableAfterMinor),
    },
  };
}

/**
 * A hold as the API shows it. `status` is 'expired' from `expires_at` on, whether or not its money
 * was released yet (the releases follow; correctness never waits for them): `shownAt` is the instant
 * it is shown at, by the database's clock; a hold just decided in a batch is shown as decided.
 */
export function toHoldBody(hold: HoldState, shownAt?: Date): Record<string, unknown> {
  const expired = hold.status === 'held' && shownAt !== undefined && shownAt.getTime() >= hold.expiresAt.getTime();
  return {
    hold_id: hold.holdId,
    from_user_id: hold.fromUserId,
    to_user_id: hold.toUserId,
    amount: formatMinor(hold.amountMinor),
    status: expired ? 'expired' : hold.status,
    captured_amount: hold.capturedAmountMinor === null ? null : formatMinor(hold.capturedAmountMinor),
    transfer_id: hold.transferId,
    expires_at: hold.expiresAt.toISOString(),
    created_at: hold.createdAt.toISOString(),
  };
}

/**
 * The response of a money operation, fresh or replayed. A stored outcome keeps no headers, so a
 * refusal's are re-derived: its body was rendered by toProblemResponse, so it goes out with the
 * problem headers, exactly as it did the first time.
 */
export function toHttpResponse(outcome: OperationOutcome): HttpResponse {
  const headers: Record<string, string> = outcome.status >= 400 ? { ...PROBLEM_HEADERS } : {};
  if (outcome.replayed) headers['Idempotent-Replayed'] = 'true';
  return { status: outcome.status, headers, body: outcome.body };
}
