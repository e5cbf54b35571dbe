import type { Knex } from '@wallet/platform';

/**
 * Read-only SQL for reconciliation: it recomputes the books from the ledger. Every query runs in
 * the transaction it is given, so the caller can put them all on one consistent snapshot. Money
 * comes back as bigint (pg hands BIGINT over as text; the conversion is made here, not above).
 */

export interface BalanceDrift {
  user_id: string;
  balance_minor: bigint;
  ledger_balance_minor: bigint;
}

/** Users whose stored balance differs from the sum of their ledger (credits - debits). */
export async function findBalanceDrifts(
  trx: Knex.Transaction,
  limit: number,
): Promise<{ usersChecked: number; drifts: BalanceDrift[]; driftCount: number }> {
  const result = await trx.raw<{
    rows: Array<{ user_id: string; balance_minor: string; ledger_balance_minor: string; users_checked: string; drift_count: string }>;
  }>(
    `
    WITH ledger AS (
      SELECT user_id,
             sum(CASE WHEN type = 'credit' THEN amount_minor ELSE -amount_minor END) AS ledger_balance_minor
        FROM transactions
       GROUP BY user_id
    ), compared AS (
      SELECT u.user_id, u.balance_minor, coalesce(l.ledger_balance_minor, 0) AS ledger_balance_minor
        FROM users u
        LEFT JOIN ledger l ON l.user_id = u.user_id
    ), drifted AS (
      SELECT * FROM compared WHERE balance_minor <> ledger_balance_minor
    )
    SELECT (SELECT count(*) FROM compared) AS users_checked,
           (SELECT count(*) FROM drifted) AS drift_count,
           d.user_id, d.balance_minor::text AS balance_minor, d.ledger_balance_minor::text AS ledger_balance_minor
      FROM (SELECT 1) AS one
      LEFT JOIN LATERAL (SELECT * FROM drifted ORDER BY user_id LIMIT ?) AS d ON true
    `,
    [limit],
  );
  const first = result.rows[0];
  return {
    usersChecked: Number(first?.users_checked ?? 0),
    driftCount: Number(first?.drift_count ?? 0),
    drifts: result.rows
      .filter((r) => r.user_id !== null)
      .map((r) => ({
        user_id: r.user_id,
        balance_minor: BigInt(r.balance_minor),
        ledger_balance_minor: BigInt(r.ledger_balance_minor),
      })),
  };
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
export async function findMalformedTransfers(
  trx: Knex.Transaction,
  limit: number,
): Promise<{ transfersChecked: number; malformed: MalformedTransfer[]; malformedCount: number }> {
  const result = await trx.raw<{
    rows: Array<{
      transfers_checked: string;
      malformed_count: string;
      transfer_id: string | null;
      amount_minor: string;
      legs: string;
      debits: string;
      credits: string;
      legs_match: boolean;
    }>;
  }>(
    `
    WITH shape AS (
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
    )
    SELECT (SELECT count(*) FROM shape) AS transfers_checked,
           (SELECT count(*) FROM malformed) AS malformed_count,
           m.transfer_id, m.amount_minor::text AS amount_minor, m.legs, m.debits, m.credits, m.legs_match
      FROM (SELECT 1) AS one
      LEFT JOIN LATERAL (SELECT * FROM malformed ORDER BY transfer_id LIMIT ?) AS m ON true
    `,
    [limit],
  );
  const first = result.rows[0];
  return {
    transfersChecked: Number(first?.transfers_checked ?? 0),
    malformedCount: Number(first?.malformed_count ?? 0),
    malformed: result.rows
      .filter((r): r is typeof r & { transfer_id: string } => r.transfer_id !== null)
      .map((r) => ({
        transfer_id: r.transfer_id,
        amount_minor: BigInt(r.amount_minor),
        legs: Number(r.legs),
        debits: Number(r.debits),
        credits: Number(r.credits),
        legs_match: r.legs_match,
      })),
  };
}
