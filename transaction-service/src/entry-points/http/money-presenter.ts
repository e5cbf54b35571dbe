import { toProblem } from '@wallet/platform';
import type { StoredResponse } from '../../domain/idempotency';
import { formatMinor } from '../../domain/money';
import type { MoneyResult } from '../../domain/transfers/money-command';

/**
 * The HTTP response of a money operation. The engine calls it inside the batch's transaction,
 * so a key's stored response is exactly what the first caller received (ADR 2).
 */
export function presentMoneyResult(result: MoneyResult): StoredResponse {
  if (!result.ok) return { status: result.error.status, body: { ...toProblem(result.error) } };
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
