/**
 * GENERATED from the services' OpenAPI documents by platform/tools/client-types (make client-types).
 * Do not edit: platform/tools/checks/client-types.test.ts fails when this file and the documents differ.
 */

/** RFC 9457 problem details. `code` is stable and meant for programs; `detail` is for people. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: "validation_failed" | "invalid_amount" | "self_transfer" | "invalid_idempotency_key" | "malformed_json" | "malformed_request" | "as_of_not_settled" | "not_found" | "user_not_found" | "hold_not_found" | "method_not_allowed" | "not_acceptable" | "duplicate_email" | "hold_expired" | "hold_already_captured" | "hold_already_voided" | "idempotency_request_in_flight" | "request_timeout" | "expectation_failed" | "payload_too_large" | "unsupported_media_type" | "headers_too_large" | "insufficient_funds" | "balance_limit_exceeded" | "atomic_batch_refused" | "linked_operation_failed" | "capture_exceeds_hold" | "idempotency_key_reused" | "reconcile_in_progress" | "internal_error" | "service_unavailable" | "balance_unavailable" | "balance_timeout";
}

export interface CreateUserRequest {
  /** Trimmed and lower-cased before use: " Alice@X.io " and "alice@x.io" are the same user */
  email: string;
}

export interface User {
  /** A UUIDv7 (time-ordered) */
  user_id: string;
  email: string;
  created_at: string;
}

export interface BalanceRequest {
  /** Trimmed and lower-cased before use: " Alice@X.io " and "alice@x.io" are the same user */
  email?: string;
}

export interface Balance {
  email: string;
  /** The posted balance: the sum of the ledger */
  balance: string;
  /** The balance less the user's active holds as sender (transaction-service, ADR 12) */
  available_balance: string;
  /** The instant asked about (UTC, milliseconds); only with as_of */
  as_of?: string;
}

/** Every operationId of user-service's document: the client maps each to a method. */
export type UserServiceOperationId = "createUser" | "getBalance" | "getHealth" | "getMetrics" | "getReadiness";

/** A positive amount with at most two decimals: a string ("12.50", "7") or a JSON number (12.5). No sign, exponent or leading zeros; at most the configured maximum (MAX_AMOUNT). */
export type AmountInput = string | number;

/** A decimal amount with exactly two decimals */
export type Amount = string;

export interface AddMoneyRequest {
  user_id: string;
  amount: AmountInput;
}

export interface AddMoneyResponse {
  user_id: string;
  /** The ledger entry of this credit */
  transaction_id: string;
  amount: Amount;
  updated_balance: Amount;
  /** The user's available balance after the credit */
  available_balance: Amount;
}

export interface TransferRequest {
  from_user_id: string;
  to_user_id: string;
  amount_to_transfer: AmountInput;
}

export interface TransferResponse {
  transfer_id: string;
  from_user_id: string;
  to_user_id: string;
  amount: Amount;
  /** The sender's balance after the transfer */
  updated_balance: Amount;
  /** The sender's available balance after the transfer */
  available_balance: Amount;
  created_at: string;
}

export interface BatchRequest {
  /** All or none, in one database transaction */
  atomic?: boolean;
  /** At most BATCH_MAX_OPERATIONS (1000) */
  operations: Array<BatchOperation>;
}

/** One operation: `op`, an optional `idempotency_key`, and the body of its single endpoint */
export type BatchOperation = BatchAddMoneyOperation | BatchTransferOperation | BatchHoldOperation | BatchCaptureOperation | BatchVoidOperation;

export interface BatchHoldOperation extends HoldRequest {
  op: "hold";
  idempotency_key?: BatchIdempotencyKey;
}

export interface BatchCaptureOperation {
  op: "capture";
  idempotency_key?: BatchIdempotencyKey;
  hold_id: string;
  amount?: AmountInput;
}

export interface BatchVoidOperation {
  op: "void";
  idempotency_key?: BatchIdempotencyKey;
  hold_id: string;
}

export interface BatchAddMoneyOperation extends AddMoneyRequest {
  op: "add-money";
  idempotency_key?: BatchIdempotencyKey;
}

export interface BatchTransferOperation extends TransferRequest {
  op: "transfer";
  idempotency_key?: BatchIdempotencyKey;
}

/** The Idempotency-Key header of the single endpoint: same syntax, same meaning, same scope */
export type BatchIdempotencyKey = string;

export interface BatchResponse {
  /** In request order */
  results: Array<BatchResult>;
}

export interface BatchResult {
  /** The single endpoint's status */
  status: number;
  /** The single endpoint's body: its response, or a problem document */
  body: AddMoneyResponse | TransferResponse | HoldResult | Problem;
  /** The single endpoint's Idempotent-Replayed: a stored outcome of the same key */
  replayed: boolean;
  /** The single endpoint's Retry-After, in seconds (a 503: retry this operation with its key) */
  retry_after?: number;
}

export interface BalanceResponse {
  user_id: string;
  /** The posted balance: the sum of the ledger */
  balance: Amount;
  /** The balance less the user's active (held, unexpired) holds as sender: what transfers and holds may spend */
  available_balance: Amount;
  /** The instant asked about (UTC, milliseconds); only with as_of */
  as_of?: string;
  /** The sequence of the last change counted (0: none); only with as_of */
  sequence?: string;
}

export interface HoldRequest {
  from_user_id: string;
  to_user_id: string;
  amount: AmountInput;
  expires_in_seconds?: number;
}

export interface CaptureRequest {
  /** At most the held amount; default: all of it */
  amount?: AmountInput;
}

/** Empty: `{}` (like every POST, sent as application/json) */
export type VoidRequest = Record<string, never>;

export interface Hold {
  hold_id: string;
  /** Whose money is held */
  from_user_id: string;
  /** Who receives it if captured */
  to_user_id: string;
  amount: Amount;
  status: "held" | "captured" | "voided" | "expired";
  /** Set once captured */
  captured_amount: Amount | null;
  /** The transfer a capture made */
  transfer_id: string | null;
  expires_at: string;
  created_at: string;
}

export interface HoldResult extends Hold {
  /** The sender's available balance after this operation */
  available_balance: Amount;
}

export interface HoldPage {
  items: Array<Hold>;
  /** Pass as `cursor` to get the next (older) page; null on the last page */
  next_cursor: string | null;
}

export interface Statement {
  user_id: string;
  from: string;
  /** The end of the period (excluded); now when it was left out */
  to: string;
  /** The balance at the start of the period */
  opening_balance: Amount;
  /** The balance at the end of the period */
  closing_balance: Amount;
  total_credits: Amount;
  total_debits: Amount;
  /** Entries in the whole period (every page) */
  entry_count: number;
  /** This page of the entries, oldest first */
  items: Array<Transaction>;
  /** Pass as `cursor` to get the next (later) page of the same period; null on the last page */
  next_cursor: string | null;
}

export interface Transaction {
  id: string;
  user_id: string;
  type: "credit" | "debit";
  kind: "add_money" | "transfer";
  amount: Amount;
  balance_after: Amount;
  /** Set for transfers */
  transfer_id: string | null;
  /** The other user of a transfer */
  counterparty_user_id: string | null;
  created_at: string;
  /** The user's change number (1, 2, 3, ... with no gap), as a decimal string; the same as the money event's sequence */
  sequence: string;
}

export interface TransactionPage {
  items: Array<Transaction>;
  /** Pass as `cursor` to get the next (older) page; null on the last page */
  next_cursor: string | null;
}

/** Every operationId of transaction-service's document: the client maps each to a method. */
export type TransactionServiceOperationId = "addMoney" | "batch" | "captureHold" | "getBalance" | "getHealth" | "getHold" | "getMetrics" | "getReadiness" | "getStatement" | "listHolds" | "listTransactions" | "placeHold" | "transfer" | "voidHold";
