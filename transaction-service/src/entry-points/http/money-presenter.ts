import { PROBLEM_HEADERS, toProblemResponse, type HttpResponse } from '@wallet/platform';
import type { OperationOutcome, StoredResponse } from './stored-response';
import { formatMinor } from '../../domain/money';
import type { MoneyResult } from '../../domain/transfers/money-command';

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
        created_at: result.createdAt.toISOString(),
      },
    };
  }
  return {
    status: 200,
    body: {
      user_id: result.userId,
      transaction_id: result.transactionId,
      amount: formatMinor(result.amountMinor),
      updated_balance: formatMinor(result.balanceAfterMinor),
    },
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
