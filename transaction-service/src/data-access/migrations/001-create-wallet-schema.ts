import { grantsIfRolesExist, sqlMigration, type Migration } from '@wallet/platform';
import { createMoneyBatchMarkers } from './003-money-batch-markers';
import { addIdempotencyOutcomeCodes } from './004-idempotency-outcome-codes';
import { addMoneyEvents } from './005-money-events';
import { addBalanceAsOf } from './006-balance-as-of';
import { addHolds } from './007-holds';

/**
 * The wallet's books. Invariants live here as well as in code, so no bug above can break them:
 * balances are BIGINT minor units (cents) and never negative; the ledger is append-only; every
 * ledger row belongs to a known user; an idempotency key is unique per endpoint.
 */
export const createWalletSchema = sqlMigration('001-create-wallet-schema', `
  CREATE TABLE users (
    user_id       uuid PRIMARY KEY,
    balance_minor bigint NOT NULL DEFAULT 0 CONSTRAINT users_balance_non_negative CHECK (balance_minor >= 0),
    created_at    timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now()
  );

  -- Exactly-once effect of at-least-once delivery: an event id is applied at most once.
  CREATE TABLE processed_events (
    event_id     uuid PRIMARY KEY,
    event_type   text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
  );

  -- Messages that can never be processed, kept with the reason instead of blocking the partition.
  CREATE TABLE dead_letters (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic           text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    message_key     text,
    message_value   text,
    headers         jsonb NOT NULL DEFAULT '{}',
    reason          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, kafka_partition, kafka_offset)
  );

  CREATE TABLE transfers (
    transfer_id  uuid PRIMARY KEY,
    from_user_id uuid NOT NULL REFERENCES users (user_id),
    to_user_id   uuid NOT NULL REFERENCES users (user_id),
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transfers_distinct_users CHECK (from_user_id <> to_user_id)
  );

  -- The ledger: one row per balance change. seq is assigned while the user's row lock is held,
  -- so for one user it increases in exactly the order the changes were applied.
  CREATE TABLE transactions (
    seq                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                   uuid NOT NULL UNIQUE,
    user_id              uuid NOT NULL REFERENCES users (user_id),
    type                 text NOT NULL CHECK (type IN ('credit', 'debit')),
    kind                 text NOT NULL CHECK (kind IN ('add_money', 'transfer')),
    amount_minor         bigint NOT NULL CHECK (amount_minor > 0),
    balance_after_minor  bigint NOT NULL CHECK (balance_after_minor >= 0),
    transfer_id          uuid REFERENCES transfers (transfer_id),
    counterparty_user_id uuid REFERENCES users (user_id),
    created_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transactions_transfer_shape CHECK (
      (kind = 'transfer' AND transfer_id IS NOT NULL AND counterparty_user_id IS NOT NULL)
      OR (kind = 'add_money' AND type = 'credit' AND transfer_id IS NULL AND counterparty_user_id IS NULL)
    ),
    UNIQUE (transfer_id, type)
  );
  CREATE INDEX transactions_user_history ON transactions (user_id, seq DESC);

  CREATE FUNCTION transactions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    RAISE EXCEPTION 'the transactions ledger is append-only (% refused)', TG_OP
      USING ERRCODE = 'insufficient_privilege';
  END;
  $$;
  CREATE TRIGGER transactions_append_only
    BEFORE UPDATE OR DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION transactions_append_only();
  CREATE TRIGGER transactions_no_truncate
    BEFORE TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION transactions_append_only();

  -- Idempotency keys (Stripe-like). The row is inserted first in the same transaction as the
  -- money movement and completed with the response before commit: a concurrent duplicate waits
  -- on the unique index and then sees the committed outcome.
  CREATE TABLE idempotency_keys (
    endpoint        text NOT NULL,
    idempotency_key text NOT NULL,
    request_hash    text NOT NULL,
    response_status integer,
    -- json, not jsonb: a replay returns the original body byte for byte, keys in their order.
    response_body   json,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (endpoint, idempotency_key)
  );
  CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
`);

/**
 * What the service's own login (`transaction_service`) may do: only the DML its code runs. The
 * ledger and the transfers are insert-only by privilege as well as by trigger, and the login owns
 * nothing, so it cannot disable the trigger or alter any table (db/README.md, ADR 7). The database
 * owner applies this, so the grants live with the tables they are about; a new table needs its
 * grant here too. Skipped when the role does not exist (a server set up without db/init).
 */
export const grantServicePrivileges = sqlMigration(
  '002-grant-service-privileges',
  grantsIfRolesExist({
    transaction_service: [
      'SELECT, INSERT, UPDATE ON users',
      'SELECT, INSERT ON transactions, transfers, processed_events, dead_letters',
      'SELECT, INSERT, UPDATE, DELETE ON idempotency_keys',
    ],
  }),
);

export const migrations: readonly Migration[] = [
  createWalletSchema,
  grantServicePrivileges,
  createMoneyBatchMarkers,
  addIdempotencyOutcomeCodes,
  addMoneyEvents,
  addBalanceAsOf,
  addHolds,
];

/** Advisory-lock key for this database's migrations (any constant unique to the service). */
export const MIGRATION_LOCK_KEY = 727_001;
