import { sqlMigration } from '@wallet/platform';

/**
 * A key's stored outcome also keeps the domain's own code ('ok' or the refusal's error code), so a
 * replay is counted and reasoned about from what the domain decided, not by reading the HTTP body
 * back. Keys stored before this migration have none (NULL) and are counted as 'unknown'.
 */
export const addIdempotencyOutcomeCodes = sqlMigration('004-idempotency-outcome-codes', 'ALTER TABLE idempotency_keys ADD COLUMN outcome_code text');
