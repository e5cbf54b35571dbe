import type { AppError } from '@wallet/platform';
import type { Minor } from '../money';

/**
 * A money operation that has passed every check that needs no database: schema, canonical
 * UUIDs, amount, self-transfer. Only validated commands are queued, so nothing in a batch can
 * make the set-based SQL fail on a client's mistake.
 */
export type MoneyCommand =
  | { op: 'transfer'; fromUserId: string; toUserId: string; amountMinor: Minor }
  | { op: 'add-money'; userId: string; amountMinor: Minor };

/** A command with its Idempotency-Key (if any) and the fingerprint of its normalised request. */
export interface KeyedCommand {
  command: MoneyCommand;
  key: string | undefined;
  fingerprint: string;
}

/** The kind of a money operation; an Idempotency-Key is scoped to it (one key may be used once per kind). */
export type OperationKind = MoneyCommand['op'];

export function endpointOf(command: MoneyCommand): OperationKind {
  return command.op;
}

/**
 * What the presenter rendered for a result (the edge's response: entry-points/http/stored-response.ts).
 * The domain never looks inside: it stores it with the key, verbatim, and hands it back on a replay.
 */
export interface PresentedAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** A presented answer, and whether it is a replay of a stored one. */
export interface AnsweredOutcome extends PresentedAnswer {
  replayed: boolean;
}

/** What one command did: its own outcome, independent of the others in its batch. */
export type MoneyResult =
  | {
      ok: true;
      op: 'transfer';
      transferId: string;
      fromUserId: string;
      toUserId: string;
      amountMinor: Minor;
      senderBalanceAfterMinor: Minor;
      createdAt: Date;
    }
  | {
      ok: true;
      op: 'add-money';
      transactionId: string;
      userId: string;
      amountMinor: Minor;
      balanceAfterMinor: Minor;
    }
  | { ok: false; error: AppError };

/** One ledger row: a balance change of one user, in the order it was applied. */
export interface LedgerLeg {
  id: string;
  userId: string;
  type: 'credit' | 'debit';
  kind: 'add_money' | 'transfer';
  amountMinor: Minor;
  balanceAfterMinor: Minor;
  transferId: string | null;
  counterpartyUserId: string | null;
  createdAt: Date;
}

/** A ledger row with its place in its user's sequence (1, 2, 3, ...), assigned by the batch under the user's row lock. */
export type SequencedLeg = LedgerLeg & { sequence: bigint };

export interface TransferRow {
  transferId: string;
  fromUserId: string;
  toUserId: string;
  amountMinor: Minor;
  createdAt: Date;
}
