import { grantsIfRolesExist, sqlMigration } from '@wallet/platform';

/**
 * The durable evidence that settles a money batch whose COMMIT reply was lost (ADR 6, amended).
 * Every batch inserts its own marker (outcome 'committed') in its own transaction, so the marker
 * exists if and only if the batch committed. A settler that finds no marker inserts one with
 * outcome 'aborted': that tombstone is itself durable, makes the verdict final (the batch can no
 * longer commit: its marker's key is taken) and makes settling idempotent.
 */
export const createMoneyBatchMarkers = sqlMigration('003-money-batch-markers', `
  CREATE TABLE money_batches (
    batch_id   uuid PRIMARY KEY,
    outcome    text NOT NULL DEFAULT 'committed' CHECK (outcome IN ('committed', 'aborted')),
    created_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX money_batches_created_at ON money_batches (created_at);

  ${grantsIfRolesExist({ transaction_service: ['SELECT, INSERT, DELETE ON money_batches'] })}
`);
