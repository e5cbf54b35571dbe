import { sqlMigration } from '@wallet/platform';

/**
 * Balances at any instant and statements (ADR 11).
 *
 * `users.last_entry_at` is the time of the user's last ledger row: a batch never gives a row an
 * earlier time than it (apply-money-batch.ts, ledgerClock), so along one user's sequence the times
 * never go back, even when batches of several processes with skewed clocks alternate. A period
 * [from, to) is then one contiguous run of the user's sequence, and "in applied order" is the same
 * as "in time order". Rows already there get theirs from the ledger.
 *
 * `transactions_user_time` serves every read by time: the balance at an instant is one backward
 * step in it (balance_after is in the index), a period's totals are an index-only range scan, and
 * a statement page is a keyset range on (created_at, sequence). Built in this migration's
 * transaction: on a large existing ledger, run it in a quiet moment (it blocks ledger writes while
 * it builds).
 */
export const addBalanceAsOf = sqlMigration('006-balance-as-of', `
  ALTER TABLE users ADD COLUMN last_entry_at timestamptz;
  UPDATE users u SET last_entry_at = l.last_at
    FROM (SELECT user_id, max(created_at) AS last_at FROM transactions GROUP BY user_id) l
   WHERE u.user_id = l.user_id;

  CREATE INDEX transactions_user_time ON transactions (user_id, created_at, sequence)
    INCLUDE (type, amount_minor, balance_after_minor);
`);
