import { grantsIfRolesExist, sqlMigration } from '@wallet/platform';

/**
 * Money events (ADR 10). Each ledger row gets its user's `sequence` (1, 2, 3, ... in applied order,
 * assigned by the batch while it holds the user's row lock, like balance_after); `users.last_sequence`
 * is the last one given. Rows that existed before get theirs here, in applied order (seq), and are
 * not published (a replay can publish them).
 *
 * `money_events_pending` is the money outbox: one row per ledger row still to be published, written
 * in the batch's own statement (so an event exists if and only if its change committed) and deleted
 * by the relay once Kafka has acknowledged it. The event itself is built from the ledger row, which
 * never changes: a republished event is byte-for-byte the same, with the same id (the entry's id).
 */
export const addMoneyEvents = sqlMigration('005-money-events', `
  ALTER TABLE users ADD COLUMN last_sequence bigint NOT NULL DEFAULT 0
    CONSTRAINT users_last_sequence_non_negative CHECK (last_sequence >= 0);
  ALTER TABLE transactions ADD COLUMN sequence bigint;

  -- The ledger refuses UPDATE (append-only); only this one-off numbering of the rows it already
  -- holds may write to it, inside this migration's transaction, by the table's owner.
  ALTER TABLE transactions DISABLE TRIGGER transactions_append_only;
  UPDATE transactions t SET sequence = n.sequence
    FROM (SELECT seq, row_number() OVER (PARTITION BY user_id ORDER BY seq) AS sequence FROM transactions) n
   WHERE t.seq = n.seq;
  ALTER TABLE transactions ENABLE TRIGGER transactions_append_only;

  ALTER TABLE transactions
    ALTER COLUMN sequence SET NOT NULL,
    ADD CONSTRAINT transactions_sequence_positive CHECK (sequence >= 1),
    ADD CONSTRAINT transactions_user_sequence UNIQUE (user_id, sequence);
  UPDATE users u SET last_sequence = c.last
    FROM (SELECT user_id, max(sequence) AS last FROM transactions GROUP BY user_id) c
   WHERE u.user_id = c.user_id;

  CREATE TABLE money_events_pending (
    entry_seq  bigint PRIMARY KEY REFERENCES transactions (seq),
    created_at timestamptz NOT NULL DEFAULT now()
  );

  ${grantsIfRolesExist({
    transaction_service: ['INSERT ON money_events_pending'],
    // The relay's own login here: it reads the ledger and works the money outbox, nothing else.
    outbox_relay: ['SELECT ON transactions', 'SELECT, INSERT, DELETE ON money_events_pending'],
  })}
`);
