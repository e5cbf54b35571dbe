/**
 * @wallet/client: the digital wallet's HTTP API as typed methods (both services), with idempotent,
 * safely retried money calls and optional automatic batching. Types are generated from the services'
 * OpenAPI documents (./generated/api-types, checked against them by the repository's tests).
 */
export { WalletClient, OPERATION_METHODS, type WalletClientOptions, type MoneyCallOptions, type BatchCallOptions, type BatchOperationInput } from './wallet-client';
export { WalletApiError, type WalletErrorCode } from './wallet-api-error';
export { DEFAULT_RETRY_POLICY, retryDelayMs, type RetryPolicy } from './retry-policy';
export { formatAmount, parseAmount } from './amounts';
export type * from './generated/api-types';
