import type { Knex } from '@wallet/platform';

/**
 * Read-only SQL for reconciliation: it recomputes the books from the ledger. Every query runs in
 * the transaction it is given, so the caller can put them all on one consistent snapshot. Money
 * comes back as bigint (pg hands BIGINT over as text; the conversion is made here, not above).
 */

/**
 * Takes the advisory lock `key` for the rest of the transaction without waiting: false when
 * another session holds it. Released by COMMIT or ROLLBACK, so a crashed holder never keeps it.
 */
export async function tryTransactionLock(trx: Knex.Transaction, key: number): Promise<boolean> {
  const { rows } = await trx.raw<{ rows: Array<{ locked: boolean }> }>('SELECT pg_try_advisory_xact_lock(?) AS locked', [key]);
  return rows[0]?.locked === true;
}

/** What one check found: how many it looked at, how many are wrong, and the first `limit` of those. */
export interface Findings<T> {
  checked: number;
  found: number;
  findings: T[];
}

/** A user whose stored amount (a column of users) differs from the same amount recomputed from its records. */
export type UserAmountDrift<Stored extends string, Recomputed extends string> = { user_id: string } & Record<Stored | Recomputed, bigint>;

export type BalanceDrift = UserAmountDrift<'balance_minor', 'ledger_balance_minor'>;

/** Users whose stored balance differs from the sum of their ledger (credits - debits). */
export function findBalanceDrifts(trx: Knex.Transaction, limit: number): Promise<Findings<BalanceDrift>> {
  return findUserAmountDrifts(trx, limit, {
    stored: 'balance_minor',
    recomputed: 'ledger_balance_minor',
    perUser: `SELECT user_id, sum(CASE type WHEN 'credit' THEN amount_minor WHEN 'debit' THEN -amount_minor ELSE 0 END) AS amount_minor
                FROM transactions
               GROUP BY user_id`,
  });
}

/**
 * Users whose `stored` column differs from `perUser`'s amount_minor for them (0 for a user it has
 * no row for). The names are this file's constants, never input.
 */
function findUserAmountDrifts<S extends string, R extends string>(
  trx: Knex.Transaction,
  limit: number,
  drift: { stored: S; recomputed: R; perUser: string },
): Promise<Findings<UserAmountDrift<S, R>>> {
  const { stored, recomputed } = drift;
  return queryFindings<{ user_id: string } & Record<S | R, string>, UserAmountDrift<S, R>>(
    trx,
    {
      with: `
        recomputed AS (
          ${drift.perUser}
        ), compared AS (
          SELECT u.user_id, u.${stored}, coalesce(r.amount_minor, 0) AS ${recomputed}
            FROM users u
            LEFT JOIN recomputed r ON r.user_id = u.user_id
        ), drifted AS (
          SELECT * FROM compared WHERE ${stored} <> ${recomputed}
        )`,
      checked: 'compared',
      found: 'drifted',
      columns: `f.user_id, f.${stored}::text AS ${stored}, f.${recomputed}::text AS ${recomputed}`,
      key: 'user_id',
      limit,
    },
    (r) => ({ user_id: r.user_id, [stored]: BigInt(r[stored]), [recomputed]: BigInt(r[recomputed]) }) as UserAmountDrift<S, R>,
  );
}

export interface SequenceGap {
  user_id: string;
  last_sequence: bigint;
  entries: bigint;
  max_sequence: bigint;
}

/**
 * Users whose ledger sequence is not exactly 1..N: the number of entries, the largest sequence and
 * users.last_sequence must all agree (with UNIQUE (user_id, sequence) and sequence >= 1, that
 * means gapless). Their money events carry the same numbers, so this is what consumers rely on.
 */
export function findSequenceGaps(trx: Knex.Transaction, limit: number): Promise<Findings<SequenceGap>> {
  type Row = { user_id: string; last_sequence: string; entries: string; max_sequence: string };
  return queryFindings<Row, SequenceGap>(
    trx,
    {
      with: `
        ledger AS (
          SELECT user_id, count(*) AS entries, max(sequence) AS max_sequence FROM transactions GROUP BY user_id
        ), compared AS (
          SELECT u.user_id, u.last_sequence, coalesce(l.entries, 0) AS entries, coalesce(l.max_sequence, 0) AS max_sequence
            FROM users u LEFT JOIN ledger l ON l.user_id = u.user_id
        ), gapped AS (
          SELECT * FROM compared WHERE NOT (last_sequence = entries AND max_sequence = entries)
        )`,
      checked: 'compared',
      found: 'gapped',
      columns: 'f.user_id, f.last_sequence::text AS last_sequence, f.entries::text AS entries, f.max_sequence::text AS max_sequence',
      key: 'user_id',
      limit,
    },
    (r) => ({ user_id: r.user_id, last_sequence: BigInt(r.last_sequence), entries: BigInt(r.entries), max_sequence: BigInt(r.max_sequence) }),
  );
}

export interface MalformedTransfer {
  transfer_id: string;
  amount_minor: bigint;
  legs: number;
  debits: number;
  credits: number;
  /** True when every leg's amount equals the transfer's and the legs belong to its two users. */
  legs_match: boolean;
}

/**
 * Transfers that do not have exactly one debit of the sender and one credit of the receiver,
 * both for the transfer's amount. Ledger rows naming an unknown transfer cannot exist (foreign key).
 */
export function findMalformedTransfers(trx: Knex.Transaction, limit: number): Promise<Findings<MalformedTransfer>> {
  type Row = { transfer_id: string; amount_minor: string; legs: string; debits: string; credits: string; legs_match: boolean };
  return queryFindings<Row, MalformedTransfer>(
    trx,
    {
      with: `
        shape AS (
          SELECT t.transfer_id,
                 t.amount_minor,
                 count(l.id) AS legs,
                 count(*) FILTER (WHERE l.type = 'debit') AS debits,
                 count(*) FILTER (WHERE l.type = 'credit') AS credits,
                 coalesce(bool_and(
                   l.amount_minor = t.amount_minor
                   AND ((l.type = 'debit' AND l.user_id = t.from_user_id AND l.counterparty_user_id = t.to_user_id)
                     OR (l.type = 'credit' AND l.user_id = t.to_user_id AND l.counterparty_user_id = t.from_user_id))
                 ), false) AS legs_match
            FROM transfers t
            LEFT JOIN transactions l ON l.transfer_id = t.transfer_id
           GROUP BY t.transfer_id, t.amount_minor
        ), malformed AS (
          SELECT * FROM shape WHERE NOT (legs = 2 AND debits = 1 AND credits = 1 AND legs_match)
        )`,
      checked: 'shape',
      found: 'malformed',
      columns: 'f.transfer_id, f.amount_minor::text AS amount_minor, f.legs, f.debits, f.credits, f.legs_match',
      key: 'transfer_id',
      limit,
    },
    (r) => ({
      transfer_id: r.transfer_id,
      amount_minor: BigInt(r.amount_minor),
      legs: Number(r.legs),
      debits: Number(r.debits),
      credits: Number(r.credits),
      legs_match: r.legs_match,
    }),
  );
}

export type HeldDrift = UserAmountDrift<'held_minor', 'holds_minor'>;

/** Users whose held amount differs from the sum of their active holds as sender (status 'held', expired or not yet released). */
export function findHeldDrifts(trx: Knex.Transaction, limit: number): Promise<Findings<HeldDrift>> {
  return findUserAmountDrifts(trx, limit, {
    stored: 'held_minor',
    recomputed: 'holds_minor',
    perUser: `SELECT from_user_id AS user_id, sum(amount_minor) AS amount_minor FROM holds WHERE status = 'held' GROUP BY from_user_id`,
  });
}

export interface MalformedHold {
  hold_id: string;
  status: string;
}

/**
 * Holds whose ledger does not tell their state, exactly once: one hold entry of the sender for the
 * amount; then by status — held: nothing else; voided or expired: one release of the whole amount;
 * captured: one transfer of the sender to the receiver for captured_amount (its two legs carry the
 * hold), and one release of the remainder if there is one. A hold in two terminal states would
 * need two of these at once, so it is found here too.
 */
export function findMalformedHolds(trx: Knex.Transaction, limit: number): Promise<Findings<MalformedHold>> {
  return queryFindings<{ hold_id: string; status: string }, MalformedHold>(
    trx,
    {
      with: `
        shape AS (
          SELECT h.hold_id, h.status, h.amount_minor, h.captured_amount_minor,
                 count(l.id) FILTER (WHERE l.type = 'hold') AS hold_entries,
                 count(l.id) FILTER (WHERE l.type = 'hold' AND l.user_id = h.from_user_id AND l.amount_minor = h.amount_minor) AS right_hold_entries,
                 count(l.id) FILTER (WHERE l.type = 'release') AS releases,
                 coalesce(sum(l.amount_minor) FILTER (WHERE l.type = 'release' AND l.user_id = h.from_user_id), 0) AS released_minor,
                 count(l.id) FILTER (WHERE l.kind = 'transfer') AS capture_legs,
                 (SELECT t.amount_minor FROM transfers t
                   WHERE t.transfer_id = h.transfer_id AND t.from_user_id = h.from_user_id AND t.to_user_id = h.to_user_id) AS transfer_minor
            FROM holds h
            LEFT JOIN transactions l ON l.hold_id = h.hold_id
           GROUP BY h.hold_id
        ), malformed AS (
          SELECT * FROM shape WHERE NOT (hold_entries = 1 AND right_hold_entries = 1 AND CASE status
            WHEN 'held' THEN releases = 0 AND capture_legs = 0
            WHEN 'captured' THEN capture_legs = 2 AND transfer_minor IS NOT NULL AND transfer_minor = captured_amount_minor
              AND releases = (CASE WHEN captured_amount_minor < amount_minor THEN 1 ELSE 0 END)
              AND released_minor = amount_minor - captured_amount_minor
            ELSE releases = 1 AND released_minor = amount_minor AND capture_legs = 0 END)
        )`,
      checked: 'shape',
      found: 'malformed',
      columns: 'f.hold_id, f.status',
      key: 'hold_id',
      limit,
    },
    (r) => ({ hold_id: r.hold_id, status: r.status }),
  );
}

/**
 * The one query shape of every check: the totals (the rows of `checked` looked at, the rows of
 * `found` that are wrong) on every row, beside one of the first `limit` wrong rows in `key` order
 * (aliased `f`). With nothing wrong, the LEFT JOIN LATERAL still yields one row, whose `f`
 * columns are NULL, so the totals come back either way.
 */
async function queryFindings<Row extends Record<string, unknown>, T>(
  trx: Knex.Transaction,
  query: { with: string; checked: string; found: string; columns: string; key: keyof Row & string; limit: number },
  toFinding: (row: Row) => T,
): Promise<Findings<T>> {
  const result = await trx.raw<{ rows: Array<Row & { checked: string; found: string }> }>(
    `
    WITH ${query.with}
    SELECT (SELECT count(*) FROM ${query.checked}) AS checked,
           (SELECT count(*) FROM ${query.found}) AS found,
           ${query.columns}
      FROM (SELECT 1) AS one
      LEFT JOIN LATERAL (SELECT * FROM ${query.found} ORDER BY ${query.key} LIMIT ?) AS f ON true
    `,
    [query.limit],
  );
  const first = result.rows[0];
  return {
    checked: Number(first?.checked ?? 0),
    found: Number(first?.found ?? 0),
    findings: result.rows.filter((row) => row[query.key] !== null).map(toFinding),
  };
}
