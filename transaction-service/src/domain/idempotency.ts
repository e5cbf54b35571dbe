import { createHash } from 'node:crypto';
import type { IdempotentEndpoint } from '../entry-points/http/stored-response';

// The response shapes are HTTP's and live at the edge; re-exported here only because the money
// engine's files still import them from the domain. TODO(issue 18): import them from
// entry-points/http/stored-response there, then drop this line.
export type { IdempotentEndpoint, OperationOutcome, StoredResponse } from '../entry-points/http/stored-response';

/**
 * Fingerprint of the normalised request: "12.5" and 12.50 are the same payload, so a client
 * retrying with either form gets a replay, not an idempotency_key_reused error.
 */
export function fingerprintRequest(endpoint: IdempotentEndpoint, normalised: Record<string, string>): string {
  const canonical = JSON.stringify([endpoint, Object.entries(normalised).sort(([a], [b]) => a.localeCompare(b))]);
  return createHash('sha256').update(canonical).digest('hex');
}
