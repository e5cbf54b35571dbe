/**
 * One entry of GET /users/:user_id/transactions, as transaction-service answers it and as the
 * books checker (tests, `make bench`) reads it: one definition, so the two cannot drift.
 */
export interface TransactionHistoryItem {
  id: string;
  user_id: string;
  type: 'credit' | 'debit';
  kind: 'add_money' | 'transfer';
  /** Decimal string with exactly two decimals. */
  amount: string;
  /** The user's balance right after this movement; decimal string with two decimals. */
  balance_after: string;
  transfer_id: string | null;
  counterparty_user_id: string | null;
  created_at: string;
  /** This user's change number, 1, 2, 3, ... gapless (decimal string); the same as its money event's `sequence`. */
  sequence: string;
}

/**
 * A history item's fields, in the order it is written: the OpenAPI Transaction schema requires
 * them all and a statement's CSV has them as its columns.
 */
export const TRANSACTION_HISTORY_FIELDS: ReadonlyArray<keyof TransactionHistoryItem> = [
  'id', 'user_id', 'type', 'kind',
  'amount', 'balance_after',
  'transfer_id', 'counterparty_user_id',
  'created_at', 'sequence',
];

export interface TransactionHistoryPage {
  items: TransactionHistoryItem[];
  next_cursor: string | null;
}
