/**
 * The HTTP shapes of a money operation. With an Idempotency-Key its response is stored verbatim
 * (status and body: the table keeps no headers) and replayed to a retry.
 */

/** A response as a client sees it; with an Idempotency-Key it is stored verbatim for replays. */
export interface StoredResponse {
  status: number;
  body: Record<string, unknown>;
}

/** The outcome of a money operation as the client sees it. */
export interface OperationOutcome extends StoredResponse {
  /** True when this outcome is a replay of a stored one (Idempotent-Replayed: true). */
  replayed: boolean;
}

/** The endpoints an Idempotency-Key is scoped to: one key may be used once on each. */
export type IdempotentEndpoint = 'add-money' | 'transfer' | 'hold' | 'capture' | 'void';
