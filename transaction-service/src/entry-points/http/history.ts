import Joi from 'joi';
import { AppError, PG_BIGINT_MAX, uuidSchema, validateInput, type TransactionHistoryItem } from '@wallet/platform';
import type { LedgerRow } from '../../data-access/wallet-read-view';
import { formatMinor } from '../../domain/money';

/** The HTTP shapes of the read side: the user id parameter, the history query and its cursor. */

export const userIdParam = uuidSchema().required().label('user_id');

const historyQuerySchema = Joi.object<{ limit: number; cursor?: string }>({
  limit: Joi.number().integer().min(1).max(100).default(20),
  cursor: Joi.string()
    .max(64)
    .pattern(/^[A-Za-z0-9_-]+$/)
    .messages({ 'string.pattern.base': 'cursor is not valid: pass back a next_cursor value' }),
});

export function parseUserId(raw: unknown): string {
  return validateInput(userIdParam, raw);
}

export function parseHistoryQuery(raw: unknown): { limit: number; beforeSeq?: bigint } {
  const query = validateInput(historyQuerySchema, raw);
  return query.cursor === undefined ? { limit: query.limit } : { limit: query.limit, beforeSeq: decodeCursor(query.cursor) };
}

export function toTransactionItem(row: LedgerRow): TransactionHistoryItem {
  return {
    id: row.id,
    user_id: row.user_id,
    type: row.type,
    kind: row.kind,
    amount: formatMinor(row.amount_minor),
    balance_after: formatMinor(row.balance_after_minor),
    transfer_id: row.transfer_id,
    counterparty_user_id: row.counterparty_user_id,
    created_at: row.created_at.toISOString(),
    sequence: row.sequence.toString(),
  };
}

export function encodeCursor(seq: bigint): string {
  return Buffer.from(`seq:${seq}`).toString('base64url');
}

function decodeCursor(cursor: string): bigint {
  const match = /^seq:(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  const seq = match?.[1] === undefined ? undefined : BigInt(match[1]);
  // transactions.seq is a BIGINT: a larger cursor would make PostgreSQL fail the query (a 500, not a 400).
  if (seq === undefined || seq > PG_BIGINT_MAX) {
    throw new AppError('validation_failed', 'cursor is not valid: pass back a next_cursor value');
  }
  return seq;
}
