import type { AppError } from '@wallet/platform';
import type { Minor } from '../money';

/**
 * A money operation that has passed every check that needs no database: schema, canonical
 * UUIDs, amount, self-transfer. Only validated commands are queued, so nothing in a batch can
 * make the set-based SQL fail on a client's mistake.
 */
export type MoneyCommand =
  | { op: 'transfer'; fromUserId: string; toUserId: string; amountMinor: Minor }
  | { op: 'add-money'; userId: string; amountMinor: Minor }
  | { op: 'hold'; fromUserId: string; toUserId: string; amountMinor: Minor; expiresInSeconds: number }
  /** amountMinor undefined: the whole hold. */
  | { op: 'capture'; holdId: string; amountMinor: Minor | undefined }
  | { op: 'void'; holdId: string }
  /** The sweeper's (never a client's): releases the user's expired holds, as every batch locking the user does first. */
  | { op: 'release-expired'; userId: string };

/** A money command that names a hold rather than its users: the batch reads the hold to know whom to lock. */
export type HoldCommand = MoneyCommand & { op: 'capture' | 'void' };

export function isHoldCommand(command: MoneyCommand): command is HoldCommand {
  return command.op === 'capture' || command.op === 'void';
}

/** A command with its Idempotency-Key (if any) and the fingerprint of its normalised request. */
export interface KeyedCommand {
  command: MoneyCommand;
  key: string | undefined;
  fingerprint: string;
  /**
   * Set on the members of one atomic batch (POST /batch with atomic: true), which arrive together
   * and stay together: all of them are applied, in order, or none (ADR 13).
   */
  group?: string;
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

export type HoldStatus = 'held' | 'captured' | 'voided' | 'expired';

/** A hold as the batch knows it: read under its sender's row lock, or made in this batch. */
export interface HoldState {
  holdId: string;
  fromUserId: string;
  toUserId: string;
  amountMinor: Minor;
  status: HoldStatus;
  capturedAmountMinor: Minor | null;
  transferId: string | null;
  expiresAt: Date;
  createdAt: Date;
  /** The database clock's reading when it was resolved (exact, as PostgreSQL wrote it). */
  resolvedAt: string | null;
}

export interface HoldResult<Op extends 'hold' | 'capture' | 'void'> {
  ok: true;
  op: Op;
  hold: HoldState;
  /** The sender's available balance after the operation. */
  senderAvailableAfterMinor: Minor;
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
      senderAvailableAfterMinor: Minor;
      createdAt: Date;
    }
  | {
      ok: true;
      op: 'add-money';
      transactionId: string;
      userId: string;
      amountMinor: Minor;
      balanceAfterMinor: Minor;
      availableAfterMinor: Minor;
    }
  | HoldResult<'hold'>
  | HoldResult<'capture'>
  | HoldResult<'void'>
  | { ok: true; op: 'release-expired'; userId: string }
  | { ok: false; error: AppError };

/** One ledger row: a balance change of one user, in the order it was applied. */
export interface LedgerLeg {
  id: string;
  userId: string;
  type: 'credit' | 'debit' | 'hold' | 'release';
  kind: 'add_money' | 'transfer' | 'hold';
  amountMinor: Minor;
  balanceAfterMinor: Minor;
  availableAfterMinor: Minor;
  transferId: string | null;
  holdId: string | null;
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
