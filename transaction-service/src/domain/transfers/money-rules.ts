import { v7 as uuidv7 } from 'uuid';
import { AppError, type ErrorCode } from '@wallet/platform';
import { formatMinor, MAX_BALANCE_MINOR, type Minor } from '../money';
import type { HoldState, LedgerLeg, MoneyCommand, MoneyResult, TransferRow } from './money-command';

/** A locked user's money: the posted balance, and what its active holds reserve of it. */
export interface Account {
  balance: Minor;
  held: Minor;
}

/**
 * What a batch's decisions stand on: its locked users (a user absent has not arrived here: 404)
 * and the holds it read under their senders' locks or made itself.
 */
export interface BatchState {
  accounts: Map<string, Account>;
  holds: Map<string, HoldState>;
}

/**
 * The two clocks of a decision. `now`: the time of the rows (ledgerClock, ADR 11). `dbNow`: the
 * database's clock read in this transaction once the users' locks were held (ADR 12), exactly as
 * PostgreSQL wrote it: a hold's resolution is stamped with it, so the CHECKs compare like with like.
 */
export interface DecisionClock {
  now: Date;
  dbNow: string | undefined;
}

export type Decision =
  | { ok: true; result: MoneyResult & { ok: true }; legs: LedgerLeg[]; transfer?: TransferRow; hold?: HoldState }
  | { ok: false; error: AppError };

type Decider<Op extends MoneyCommand['op']> = (state: BatchState, command: MoneyCommand & { op: Op }, clock: DecisionClock) => Decision;

const DECIDERS: { [Op in MoneyCommand['op']]: Decider<Op> } = {
  'add-money': decideAddMoney,
  transfer: decideTransfer,
  hold: decideHold,
  capture: decideCapture,
  void: decideVoid,
  'release-expired': (_state, command) => ({ ok: true, result: { ok: true, op: 'release-expired', userId: command.userId }, legs: [] }),
};

/**
 * The rules that decide money, as a pure function: given the state after the commands before it,
 * a command either produces its ledger legs (and a hold's new state) or a refusal. The caller
 * applies the decision (applyDecision) before deciding the next command, so a batch decides
 * exactly as its commands would one after another. Funds are always the AVAILABLE balance.
 */
export function decide(state: BatchState, command: MoneyCommand, clock: DecisionClock): Decision {
  const decider = DECIDERS[command.op] as Decider<MoneyCommand['op']>;
  return decider(state, command, clock);
}

export function availableOf(account: Account): Minor {
  return account.balance - account.held;
}

function decideAddMoney(state: BatchState, command: MoneyCommand & { op: 'add-money' }, clock: DecisionClock): Decision {
  const account = state.accounts.get(command.userId);
  if (account === undefined) return refuse('user_not_found', `No user ${command.userId}`);
  if (account.balance > MAX_BALANCE_MINOR - command.amountMinor) {
    return refuse('balance_limit_exceeded', 'This credit would take the balance past its limit');
  }
  const after = { balance: account.balance + command.amountMinor, held: account.held };
  const leg = entry(command.userId, after, { type: 'credit', kind: 'add_money', amountMinor: command.amountMinor, createdAt: clock.now });
  return {
    ok: true,
    result: {
      ok: true,
      op: 'add-money',
      transactionId: leg.id,
      userId: command.userId,
      amountMinor: command.amountMinor,
      balanceAfterMinor: after.balance,
      availableAfterMinor: availableOf(after),
    },
    legs: [leg],
  };
}

function decideTransfer(state: BatchState, command: MoneyCommand & { op: 'transfer' }, clock: DecisionClock): Decision {
  const { fromUserId: from, toUserId: to, amountMinor } = command;
  const sender = state.accounts.get(from);
  const receiver = state.accounts.get(to);
  if (sender === undefined) return refuse('user_not_found', `No sender ${from}`);
  if (receiver === undefined) return refuse('user_not_found', `No receiver ${to}`);
  if (availableOf(sender) < amountMinor) return insufficientFunds(sender);
  if (receiver.balance > MAX_BALANCE_MINOR - amountMinor) {
    return refuse('balance_limit_exceeded', "This transfer would take the receiver's balance past its limit");
  }
  const moved = moveMoney({ from, to, amountMinor, holdId: null, sender, receiver, now: clock.now });
  return {
    ok: true,
    result: {
      ok: true,
      op: 'transfer',
      transferId: moved.transfer.transferId,
      fromUserId: from,
      toUserId: to,
      amountMinor,
      senderBalanceAfterMinor: moved.senderAfter.balance,
      senderAvailableAfterMinor: availableOf(moved.senderAfter),
      createdAt: clock.now,
    },
    legs: moved.legs,
    transfer: moved.transfer,
  };
}

function decideHold(state: BatchState, command: MoneyCommand & { op: 'hold' }, clock: DecisionClock): Decision {
  const { fromUserId: from, toUserId: to, amountMinor } = command;
  const sender = state.accounts.get(from);
  if (sender === undefined) return refuse('user_not_found', `No sender ${from}`);
  if (!state.accounts.has(to)) return refuse('user_not_found', `No receiver ${to}`);
  if (availableOf(sender) < amountMinor) return insufficientFunds(sender);
  const hold: HoldState = {
    holdId: uuidv7(),
    fromUserId: from,
    toUserId: to,
    amountMinor,
    status: 'held',
    capturedAmountMinor: null,
    transferId: null,
    expiresAt: new Date(clock.now.getTime() + command.expiresInSeconds * 1_000),
    createdAt: clock.now,
    resolvedAt: null,
  };
  const after = { balance: sender.balance, held: sender.held + amountMinor };
  const leg = entry(from, after, { type: 'hold', kind: 'hold', amountMinor, createdAt: clock.now, holdId: hold.holdId, counterpartyUserId: to });
  return { ok: true, result: { ok: true, op: 'hold', hold, senderAvailableAfterMinor: availableOf(after) }, legs: [leg], hold };
}

/**
 * Captures `amount` (default: all) of a live hold as a transfer, and releases the rest: a hold is
 * captured once (ADR 12). The captured part moves from held to debited, so it leaves the available
 * balance unchanged; only the remainder's release raises it.
 */
function decideCapture(state: BatchState, command: MoneyCommand & { op: 'capture' }, clock: DecisionClock): Decision {
  const found = liveHold(state, command.holdId);
  if (!found.ok) return found;
  const { hold, sender } = found;
  const amountMinor = command.amountMinor ?? hold.amountMinor;
  if (amountMinor > hold.amountMinor) return refuse('capture_exceeds_hold', `The hold is for ${formatMinor(hold.amountMinor)}`);
  const receiver = state.accounts.get(hold.toUserId)!;
  if (receiver.balance > MAX_BALANCE_MINOR - amountMinor) {
    return refuse('balance_limit_exceeded', "This capture would take the receiver's balance past its limit");
  }
  const holding = { balance: sender.balance, held: sender.held - amountMinor };
  const moved = moveMoney({ from: hold.fromUserId, to: hold.toUserId, amountMinor, holdId: hold.holdId, sender: holding, receiver, now: clock.now });
  const remainder = hold.amountMinor - amountMinor;
  const senderAfter = { balance: moved.senderAfter.balance, held: sender.held - hold.amountMinor };
  const legs = remainder === 0n ? moved.legs : [...moved.legs, releaseEntry(hold, senderAfter, remainder, clock.now)];
  const captured: HoldState = { ...hold, status: 'captured', capturedAmountMinor: amountMinor, transferId: moved.transfer.transferId, resolvedAt: dbNowOf(clock) };
  return {
    ok: true,
    result: { ok: true, op: 'capture', hold: captured, senderAvailableAfterMinor: availableOf(senderAfter) },
    legs,
    transfer: moved.transfer,
    hold: captured,
  };
}

function decideVoid(state: BatchState, command: MoneyCommand & { op: 'void' }, clock: DecisionClock): Decision {
  const found = liveHold(state, command.holdId);
  if (!found.ok) return found;
  const voided: HoldState = { ...found.hold, status: 'voided', resolvedAt: dbNowOf(clock) };
  return releaseHold(found.sender, voided, clock.now);
}

/**
 * Releases a hold whose expiry has come (by the database's clock): every batch does this first for
 * the users it locked, so nothing is ever decided against money an expired hold still reserves.
 */
export function expireHold(state: BatchState, hold: HoldState, clock: DecisionClock): Decision {
  const sender = state.accounts.get(hold.fromUserId)!;
  return releaseHold(sender, { ...hold, status: 'expired', resolvedAt: dbNowOf(clock) }, clock.now);
}

/** A void's or an expiry's decision: the whole hold released (an expiry's result is only the sweeper's to read). */
function releaseHold(sender: Account, resolved: HoldState, now: Date): Decision {
  const after = { balance: sender.balance, held: sender.held - resolved.amountMinor };
  return {
    ok: true,
    result: { ok: true, op: 'void', hold: resolved, senderAvailableAfterMinor: availableOf(after) },
    legs: [releaseEntry(resolved, after, resolved.amountMinor, now)],
    hold: resolved,
  };
}

const TERMINAL_REFUSALS = {
  captured: ['hold_already_captured', 'The hold was already captured'],
  voided: ['hold_already_voided', 'The hold was already voided'],
  expired: ['hold_expired', 'The hold has expired; its money was released'],
} as const;

/** The hold a capture or void names, if it can still be resolved (held, and not expired: see expireHold). */
function liveHold(state: BatchState, holdId: string): { ok: true; hold: HoldState; sender: Account } | { ok: false; error: AppError } {
  const hold = state.holds.get(holdId);
  if (hold === undefined) return refuse('hold_not_found', `No hold ${holdId}`);
  if (hold.status !== 'held') {
    const [code, detail] = TERMINAL_REFUSALS[hold.status];
    return refuse(code, detail);
  }
  return { ok: true, hold, sender: state.accounts.get(hold.fromUserId)! };
}

interface Movement {
  from: string;
  to: string;
  amountMinor: Minor;
  holdId: string | null;
  sender: Account;
  receiver: Account;
  now: Date;
}

/** A transfer's two legs and its row. */
function moveMoney(m: Movement): { legs: LedgerLeg[]; transfer: TransferRow; senderAfter: Account } {
  const transferId = uuidv7();
  const senderAfter = { balance: m.sender.balance - m.amountMinor, held: m.sender.held };
  const receiverAfter = { balance: m.receiver.balance + m.amountMinor, held: m.receiver.held };
  const common = { kind: 'transfer', amountMinor: m.amountMinor, createdAt: m.now, transferId, holdId: m.holdId } as const;
  return {
    legs: [
      entry(m.from, senderAfter, { ...common, type: 'debit', counterpartyUserId: m.to }),
      entry(m.to, receiverAfter, { ...common, type: 'credit', counterpartyUserId: m.from }),
    ],
    transfer: { transferId, fromUserId: m.from, toUserId: m.to, amountMinor: m.amountMinor, createdAt: m.now },
    senderAfter,
  };
}

function releaseEntry(hold: HoldState, after: Account, amountMinor: Minor, now: Date): LedgerLeg {
  return entry(hold.fromUserId, after, { type: 'release', kind: 'hold', amountMinor, createdAt: now, holdId: hold.holdId, counterpartyUserId: hold.toUserId });
}

type EntryFields = Pick<LedgerLeg, 'type' | 'kind' | 'amountMinor' | 'createdAt'> & Partial<Pick<LedgerLeg, 'transferId' | 'holdId' | 'counterpartyUserId'>>;

/** One ledger row, carrying the user's balance and available balance after it. */
function entry(userId: string, after: Account, fields: EntryFields): LedgerLeg {
  return {
    id: uuidv7(),
    userId,
    balanceAfterMinor: after.balance,
    availableAfterMinor: availableOf(after),
    transferId: null,
    holdId: null,
    counterpartyUserId: null,
    ...fields,
  };
}

function dbNowOf(clock: DecisionClock): string {
  if (clock.dbNow === undefined) throw new Error('invariant violated: a hold resolved without the database clock');
  return clock.dbNow;
}

/** Moves the state forward by an accepted decision: each leg's user, and the hold it made or resolved. */
export function applyDecision(state: BatchState, decision: Decision): void {
  if (!decision.ok) return;
  for (const leg of decision.legs) {
    state.accounts.set(leg.userId, { balance: leg.balanceAfterMinor, held: leg.balanceAfterMinor - leg.availableAfterMinor });
  }
  if (decision.hold) state.holds.set(decision.hold.holdId, decision.hold);
}

/** A hold's two users, as the batch read them before locking anything (they never change). */
export type HoldParties = ReadonlyMap<string, { fromUserId: string; toUserId: string }>;

/** The users a command touches (to lock them); a capture or void of an unknown hold touches nobody. */
export function usersOf(command: MoneyCommand, parties: HoldParties = new Map()): string[] {
  switch (command.op) {
    case 'transfer':
    case 'hold':
      return [command.fromUserId, command.toUserId];
    case 'add-money':
      return [command.userId];
    case 'release-expired':
      return [command.userId];
    case 'capture': {
      const hold = parties.get(command.holdId);
      return hold ? [hold.fromUserId, hold.toUserId] : [];
    }
    case 'void': {
      const hold = parties.get(command.holdId);
      return hold ? [hold.fromUserId] : [];
    }
  }
}

/** Says which balance fell short: the plain one for a sender who holds nothing (as before holds existed). */
function insufficientFunds(sender: Account): { ok: false; error: AppError } {
  if (sender.held === 0n) return refuse('insufficient_funds', `The sender's balance is ${formatMinor(sender.balance)}`);
  const detail = `The sender's available balance is ${formatMinor(availableOf(sender))} (${formatMinor(sender.held)} of its balance is held)`;
  return refuse('insufficient_funds', detail);
}

function refuse(code: ErrorCode, detail: string): { ok: false; error: AppError } {
  return { ok: false, error: new AppError(code, detail) };
}
