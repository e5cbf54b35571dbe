import { createHash } from 'node:crypto';
import { AppError } from '@wallet/platform';

/** The outcome of a money operation as the client sees it; stored verbatim for idempotent replays. */
export interface OperationOutcome {
  status: number;
  body: Record<string, unknown>;
  /** True when this outcome is a replay of a stored one (Idempotent-Replayed: true). */
  replayed: boolean;
}

export type IdempotentEndpoint = 'add-money' | 'transfer';

const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~:/=-]{1,255}$/;
const SF_STRING = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\]){1,255})"$/;

/**
 * Reads an Idempotency-Key header: a plain token (`abc-123`) or a structured-field string
 * (`"abc 123"`, draft-ietf-httpapi-idempotency-key-header). Absent -> undefined; malformed -> 400.
 */
export function parseIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  const quoted = SF_STRING.exec(value);
  if (quoted) return (quoted[1] ?? '').replace(/\\(["\\])/g, '$1');
  if (TOKEN.test(value)) return value;
  throw new AppError(
    'invalid_idempotency_key',
    'Idempotency-Key must be 1-255 printable characters: a token or a quoted string',
  );
}

/**
 * Fingerprint of the normalised request: "12.5" and 12.50 are the same payload, so a client
 * retrying with either form gets a replay, not an idempotency_key_reused error.
 */
export function fingerprintRequest(endpoint: IdempotentEndpoint, normalised: Record<string, string>): string {
  const canonical = JSON.stringify([endpoint, Object.entries(normalised).sort(([a], [b]) => a.localeCompare(b))]);
  return createHash('sha256').update(canonical).digest('hex');
}
