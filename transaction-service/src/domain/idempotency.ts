import { createHash } from 'node:crypto';
import type { OperationKind } from './transfers/money-command';

/**
 * Fingerprint of the normalised request: "12.5" and 12.50 are the same payload, so a client
 * retrying with either form gets a replay, not an idempotency_key_reused error.
 */
export function fingerprintRequest(endpoint: OperationKind, normalised: Record<string, string>): string {
  const canonical = JSON.stringify([endpoint, Object.entries(normalised).sort(([a], [b]) => a.localeCompare(b))]);
  return createHash('sha256').update(canonical).digest('hex');
}
