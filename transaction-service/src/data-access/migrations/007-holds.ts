import { grantsIfRolesExist, sqlMigration } from '@wallet/platform';

/**
 * Holds: money reserved now, captured or released later (ADR 12).
 *
 * `users.held_minor` is what the user's active holds reserve; the CHECK `0 <= held <= balance`
 * makes a negative available balance impossible whatever the code above does. It still counts a
 * hold that has expired but was not released yet: every batch that locks the user releases those
 * first (apply-money-batch.ts), so no decision ever sees them, and reads subtract them explicitly.
 *
 * `holds` keeps one row per hold; its state moves once, from 'held' to exactly one terminal state,
 * and the trigger refuses any other change (no flip, no second resolution, no edit of what was
 * reserved). A capture or void must resolve before `expires_at` and an expiry at or after it, by
 * the database's clock read in the resolving transaction (`resolved_at`): CHECKs, not only code.
 *
 * The ledger gains the hold's two entries, `hold` and `release` (kind 'hold'): they move the
 * available balance, not the balance, so they take their place in the user's sequence and publish
 * money events like every other change, and sums of the balance skip them. Every entry the engine
 * writes records the available balance after it. NULL means "equal to the balance": rows written
 * before holds existed (no backfill: rewriting every row of a large append-only ledger would be a
 * long, heavy migration for a value that is already known).
 */
export const addHolds = sqlMigration('007-holds', `
  ALTER TABLE users ADD COLUMN held_minor bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT users_held_within_balance CHECK (held_minor >= 0 AND held_minor <= balance_minor);

  CREATE TABLE holds (
    hold_id               uuid PRIMARY KEY,
    from_user_id          uuid NOT NULL REFERENCES users (user_id),
    to_user_id            uuid NOT NULL REFERENCES users (user_id),
    amount_minor          bigint NOT NULL CHECK (amount_minor > 0),
    status                text NOT NULL CHECK (status IN ('held', 'captured', 'voided', 'expired')),
    captured_amount_minor bigint,
    transfer_id           uuid UNIQUE REFERENCES transfers (transfer_id),
    expires_at            timestamptz NOT NULL,
    created_at            timestamptz NOT NULL,
    resolved_at           timestamptz,
    CONSTRAINT holds_distinct_users CHECK (from_user_id <> to_user_id),
    CONSTRAINT holds_expire_after_creation CHECK (expires_at > created_at),
    CONSTRAINT holds_resolution CHECK (
      (status = 'held' AND resolved_at IS NULL AND captured_amount_minor IS NULL AND transfer_id IS NULL)
      OR (status = 'captured' AND resolved_at < expires_at AND transfer_id IS NOT NULL
          AND captured_amount_minor > 0 AND captured_amount_minor <= amount_minor)
      OR (status = 'voided' AND resolved_at < expires_at AND captured_amount_minor IS NULL AND transfer_id IS NULL)
      OR (status = 'expired' AND resolved_at >= expires_at AND captured_amount_minor IS NULL AND transfer_id IS NULL)
    )
  );
  -- A user's holds as sender, newest first (hold ids are UUIDv7: time-ordered).
  CREATE INDEX holds_by_sender ON holds (from_user_id, hold_id DESC);
  -- The active ones, by expiry: the sweeper's queue and the releases a batch does first.
  CREATE INDEX holds_active_by_expiry ON holds (expires_at, from_user_id) INCLUDE (amount_minor) WHERE status = 'held';
  CREATE INDEX holds_active_by_sender ON holds (from_user_id, expires_at) INCLUDE (amount_minor) WHERE status = 'held';

  CREATE FUNCTION holds_resolve_once() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF OLD.status <> 'held' THEN
      RAISE EXCEPTION 'hold % is already %', OLD.hold_id, OLD.status USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (NEW.hold_id, NEW.from_user_id, NEW.to_user_id, NEW.amount_minor, NEW.expires_at, NEW.created_at)
       IS DISTINCT FROM (OLD.hold_id, OLD.from_user_id, OLD.to_user_id, OLD.amount_minor, OLD.expires_at, OLD.created_at) THEN
      RAISE EXCEPTION 'what hold % reserves cannot change', OLD.hold_id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
  END;
  $$;
  CREATE TRIGGER holds_resolve_once BEFORE UPDATE ON holds FOR EACH ROW EXECUTE FUNCTION holds_resolve_once();
  CREATE FUNCTION holds_kept() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    RAISE EXCEPTION 'holds are kept for good (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
  END;
  $$;
  CREATE TRIGGER holds_kept BEFORE DELETE OR TRUNCATE ON holds FOR EACH STATEMENT EXECUTE FUNCTION holds_kept();

  ALTER TABLE transactions ADD COLUMN hold_id uuid REFERENCES holds (hold_id),
    ADD COLUMN available_after_minor bigint;
  ALTER TABLE transactions
    ADD CONSTRAINT transactions_available_within_balance
      CHECK (available_after_minor IS NULL OR (available_after_minor >= 0 AND available_after_minor <= balance_after_minor)),
    DROP CONSTRAINT transactions_type_check,
    ADD CONSTRAINT transactions_type_check CHECK (type IN ('credit', 'debit', 'hold', 'release')),
    DROP CONSTRAINT transactions_kind_check,
    ADD CONSTRAINT transactions_kind_check CHECK (kind IN ('add_money', 'transfer', 'hold')),
    DROP CONSTRAINT transactions_transfer_shape,
    ADD CONSTRAINT transactions_entry_shape CHECK (
      (kind = 'transfer' AND type IN ('credit', 'debit') AND transfer_id IS NOT NULL AND counterparty_user_id IS NOT NULL)
      OR (kind = 'add_money' AND type = 'credit' AND transfer_id IS NULL AND counterparty_user_id IS NULL AND hold_id IS NULL)
      OR (kind = 'hold' AND type IN ('hold', 'release') AND hold_id IS NOT NULL AND transfer_id IS NULL
          AND available_after_minor IS NOT NULL)
    );
  -- One hold entry and at most one release per hold: a hold is released once.
  CREATE UNIQUE INDEX transactions_one_entry_per_hold ON transactions (hold_id, type) WHERE kind = 'hold';

  ${grantsIfRolesExist({ transaction_service: ['SELECT, INSERT, UPDATE ON holds'] })}
`);
