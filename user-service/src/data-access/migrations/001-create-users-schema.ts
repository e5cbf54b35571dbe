import { grantsIfRolesExist, OUTBOX_NOTIFY_CHANNEL, OUTBOX_TABLE, sqlMigration, type Migration } from '@wallet/platform';

/**
 * user-service's own data: users (no balance: money lives only in transaction-service) and the
 * transactional outbox that carries `user-created` to Kafka. The rules hold in the schema too:
 * an email is stored only in its normalised form and only once.
 */
export const createUsersSchema = sqlMigration('001-create-users-schema', `
  CREATE TABLE users (
    user_id    uuid PRIMARY KEY,
    email      text NOT NULL
      CONSTRAINT users_email_normalised CHECK (email = lower(btrim(email)))
      CONSTRAINT users_email_shape CHECK (char_length(email) BETWEEN 3 AND 254 AND position('@' IN email) > 1),
    created_at timestamptz NOT NULL DEFAULT now()
  );
  -- The one guard against duplicates that also holds for two concurrent requests.
  CREATE UNIQUE INDEX users_email_unique ON users (email);

  -- Written in the same transaction as the user, so an event exists if and only if the user
  -- does. The relay publishes rows in id order and sets published_at in its own transaction.
  CREATE TABLE ${OUTBOX_TABLE} (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    event_type   text NOT NULL,
    aggregate_id text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text
  );
  -- The relay's hot query (unpublished rows in id order) reads only this small index.
  CREATE INDEX outbox_unpublished ON ${OUTBOX_TABLE} (id) WHERE published_at IS NULL;
  -- Replay selections by user and by time.
  CREATE INDEX outbox_aggregate_id ON ${OUTBOX_TABLE} (aggregate_id);
  CREATE INDEX outbox_created_at ON ${OUTBOX_TABLE} (created_at);

  -- Wakes the relay within milliseconds of a commit instead of at its next poll. NOTIFY is
  -- transactional: it is delivered on commit and never for a rolled-back insert.
  CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    PERFORM pg_notify('${OUTBOX_NOTIFY_CHANNEL}', '');
    RETURN NULL;
  END;
  $$;
  CREATE TRIGGER outbox_notify
    AFTER INSERT ON ${OUTBOX_TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
`);

/**
 * What each login may do on this database: user-service reads and creates users and writes their
 * events; the relay reads the outbox and marks rows published (three columns), nothing else — not
 * even the users table. Neither owns anything, so neither can alter the schema (db/README.md,
 * ADR 7). A role that does not exist (a server set up without db/init) is skipped.
 */
export const grantServicePrivileges = sqlMigration(
  '002-grant-service-privileges',
  grantsIfRolesExist({
    user_service: ['SELECT, INSERT ON users', `INSERT ON ${OUTBOX_TABLE}`],
    outbox_relay: [`SELECT, UPDATE (published_at, attempts, last_error) ON ${OUTBOX_TABLE}`],
  }),
);

export const migrations: readonly Migration[] = [createUsersSchema, grantServicePrivileges];

/** Advisory-lock key for this database's migrations (any constant unique to the service). */
export const MIGRATION_LOCK_KEY = 727_002;
