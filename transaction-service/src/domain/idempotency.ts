import { createHash } from 'node:crypto';

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

export type IdempotentEndpoint = 'add-money' | 'transfer';

/**
 * Fingerprint of the normalised request: "12.5" and 12.50 are the same payload, so a client
 * retrying with either form gets a replay, not an idempotency_key_reused error.
 */
export function fingerprintRequest(endpoint: IdempotentEndpoint, normalised: Record<string, string>): string {
  const canonical = JSON.stringify([endpoint, Object.entries(normalised).sort(([a], [b]) => a.localeCompare(b))]);
  return createHash('sha256').update(canonical).digest('hex');
}
