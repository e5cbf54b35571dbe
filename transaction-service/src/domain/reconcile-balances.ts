import { AppError, type Knex } from '@wallet/platform';
import {
  findBalanceDrifts,
  findHeldDrifts,
  findMalformedHolds,
  findMalformedTransfers,
  findSequenceGaps,
  tryTransactionLock,
  type BalanceDrift,
  type Findings,
  type HeldDrift,
  type MalformedHold,
  type MalformedTransfer,
  type SequenceGap,
} from '../data-access/reconcile-repository';
import { formatMinor } from './money';

export type ReconcileMismatch =
  | {
      kind: 'balance';
      user_id: string;
      /** users.balance_minor, as a decimal string. */
      balance: string;
      /** Sum of the user's ledger (credits - debits), as a decimal string. */
      ledger_balance: string;
      difference: string;
    }
  | {
      kind: 'transfer';
      transfer_id: string;
      amount: string;
      legs: number;
      debits: number;
      credits: number;
      problem: string;
    }
  | {
      kind: 'sequence';
      user_id: string;
      /** users.last_sequence, the number of ledger entries and the largest sequence (decimal strings): all equal when gapless. */
      last_sequence: string;
      entries: string;
      max_sequence: string;
    }
  | {
      kind: 'held';
      user_id: string;
      /** users.held_minor and the sum of the user's active holds, as decimal strings. */
      held: string;
      holds: string;
    }
  | { kind: 'hold'; hold_id: string; status: string; problem: string };

export interface ReconcileReport {
  ok: boolean;
  users_checked: number;
  transfers_checked: number;
  holds_checked: number;
  /** Total mismatches found; `mismatches` lists at most `limit` of each kind. */
  mismatch_count: number;
  mismatches: ReconcileMismatch[];
  /** When the snapshot was taken (ISO-8601). */
  checked_at: string;
  duration_ms: number;
}

/** Advisory-lock key held by a running reconciliation: one at a time across every instance and the CLI. */
export const RECONCILE_LOCK_KEY = 727_003;

/**
 * Recomputes every balance from the ledger and checks the shape of every transfer. Both checks run
 * in one REPEATABLE READ, read-only transaction: they see a single snapshot of the books even while
 * transfers keep committing, so a transfer in flight can never look like a mismatch. A full scan
 * is heavy, so only one runs at a time on a database: another one is refused with
 * reconcile_in_progress instead of piling up.
 */
export async function reconcileBalances(knex: Knex, options: { limit?: number } = {}): Promise<ReconcileReport> {
  const limit = options.limit ?? 100;
  const started = performance.now();
  const checkedAt = new Date();
  const { balances, transfers, sequences, held, holds } = await knex.transaction(
    async (trx) => {
      if (!(await tryTransactionLock(trx, RECONCILE_LOCK_KEY))) {
        throw new AppError('reconcile_in_progress', 'Another reconciliation is running on this database; retry when it is done');
      }
      return {
        balances: await findBalanceDrifts(trx, limit),
        transfers: await findMalformedTransfers(trx, limit),
        sequences: await findSequenceGaps(trx, limit),
        held: await findHeldDrifts(trx, limit),
        holds: await findMalformedHolds(trx, limit),
      };
    },
    { isolationLevel: 'repeatable read', readOnly: true },
  );

  const mismatches = toMismatches({ balances, transfers, sequences, held, holds });
  const mismatchCount = balances.found + transfers.found + sequences.found + held.found + holds.found;
  return {
    ok: mismatchCount === 0,
    users_checked: balances.checked,
    transfers_checked: transfers.checked,
    holds_checked: holds.checked,
    mismatch_count: mismatchCount,
    mismatches,
    checked_at: checkedAt.toISOString(),
    duration_ms: Math.round(performance.now() - started),
  };
}

type AllFindings = {
  balances: Findings<BalanceDrift>;
  transfers: Findings<MalformedTransfer>;
  sequences: Findings<SequenceGap>;
  held: Findings<HeldDrift>;
  holds: Findings<MalformedHold>;
};

/** What each check found, as the report lists it (decimal strings for money). */
function toMismatches({ balances, transfers, sequences, held, holds }: AllFindings): ReconcileMismatch[] {
  return [
    ...balances.findings.map((drift) => ({
      kind: 'balance' as const,
      user_id: drift.user_id,
      balance: formatMinor(drift.balance_minor),
      ledger_balance: formatMinor(drift.ledger_balance_minor),
      difference: formatMinor(drift.balance_minor - drift.ledger_balance_minor),
    })),
    ...transfers.findings.map((transfer) => ({
      kind: 'transfer' as const,
      transfer_id: transfer.transfer_id,
      amount: formatMinor(transfer.amount_minor),
      legs: transfer.legs,
      debits: transfer.debits,
      credits: transfer.credits,
      problem:
        transfer.legs !== 2 || transfer.debits !== 1 || transfer.credits !== 1
          ? `expected one debit and one credit, found ${transfer.debits} debit(s) and ${transfer.credits} credit(s)`
          : "a leg's amount or user does not match the transfer",
    })),
    ...sequences.findings.map((gap) => ({
      kind: 'sequence' as const,
      user_id: gap.user_id,
      last_sequence: gap.last_sequence.toString(),
      entries: gap.entries.toString(),
      max_sequence: gap.max_sequence.toString(),
    })),
    ...held.findings.map((drift) => ({
      kind: 'held' as const,
      user_id: drift.user_id,
      held: formatMinor(drift.held_minor),
      holds: formatMinor(drift.holds_minor),
    })),
    ...holds.findings.map((hold) => ({
      kind: 'hold' as const,
      hold_id: hold.hold_id,
      status: hold.status,
      problem: 'its ledger entries (hold, release, capture transfer) do not match its state',
    })),
  ];
}
