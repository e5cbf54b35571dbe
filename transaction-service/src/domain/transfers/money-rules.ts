import { v7 as uuidv7 } from 'uuid';
import { AppError } from '@wallet/platform';
import { formatMinor, MAX_BALANCE_MINOR, type Minor } from '../money';
import type { LedgerLeg, MoneyCommand, MoneyResult, TransferRow } from './money-command';

/** Locked balances of a batch: a user absent from the map has not arrived here (404). */
export type Balances = Map<string, Minor>;

export type Decision =
  | { ok: true; result: MoneyResult & { ok: true }; legs: LedgerLeg[]; transfer?: TransferRow }
  | { ok: false; error: AppError };

/**
 * The rules that decide money, as a pure function: given the balances as they stand after the
 * commands before it, a command either produces its ledger legs or a refusal. The caller applies
 * the legs to `balances` (see applyDecision) before deciding the next command, so a batch
 * decides exactly as its commands would one after another.
 */
export function decide(balances: ReadonlyMap<string, Minor>, command: MoneyCommand, now: Date): Decision {
  return command.op === 'add-money' ? decideAddMoney(balances, command, now) : decideTransfer(balances, command, now);
}

function decideAddMoney(balances: ReadonlyMap<string, Minor>, command: MoneyCommand & { op: 'add-money' }, now: Date): Decision {
  const balance = balances.get(command.userId);
  if (balance === undefined) return refuse('user_not_found', `No user ${command.userId}`);
  if (balance > MAX_BALANCE_MINOR - command.amountMinor) {
    return refuse('balance_limit_exceeded', 'This credit would take the balance past its limit');
  }
  const transactionId = uuidv7();
  const after = balance + command.amountMinor;
  return {
    ok: true,
    result: {
      ok: true,
      op: 'add-money',
      transactionId,
      userId: command.userId,
      amountMinor: command.amountMinor,
      balanceAfterMinor: after,
    },
    legs: [
      {
        id: transactionId,
        userId: command.userId,
        type: 'credit',
        kind: 'add_money',
        amountMinor: command.amountMinor,
        balanceAfterMinor: after,
        transferId: null,
        counterpartyUserId: null,
        createdAt: now,
      },
    ],
  };
}

function decideTransfer(balances: ReadonlyMap<string, Minor>, command: MoneyCommand & { op: 'transfer' }, now: Date): Decision {
  const { fromUserId: from, toUserId: to, amountMinor } = command;
  const sender = balances.get(from);
  const receiver = balances.get(to);
  if (sender === undefined) return refuse('user_not_found', `No sender ${from}`);
  if (receiver === undefined) return refuse('user_not_found', `No receiver ${to}`);
  if (sender < amountMinor) return refuse('insufficient_funds', `The sender's balance is ${formatMinor(sender)}`);
  if (receiver > MAX_BALANCE_MINOR - amountMinor) {
    return refuse('balance_limit_exceeded', "This transfer would take the receiver's balance past its limit");
  }
  const transferId = uuidv7();
  const senderAfter = sender - amountMinor;
  const receiverAfter = receiver + amountMinor;
  const leg = (userId: string, type: 'debit' | 'credit', balanceAfterMinor: Minor, counterpartyUserId: string): LedgerLeg => ({
    id: uuidv7(),
    userId,
    type,
    kind: 'transfer',
    amountMinor,
    balanceAfterMinor,
    transferId,
    counterpartyUserId,
    createdAt: now,
  });
  return {
    ok: true,
    result: {
      ok: true,
      op: 'transfer',
      transferId,
      fromUserId: from,
      toUserId: to,
      amountMinor,
      senderBalanceAfterMinor: senderAfter,
      createdAt: now,
    },
    legs: [leg(from, 'debit', senderAfter, to), leg(to, 'credit', receiverAfter, from)],
    transfer: { transferId, fromUserId: from, toUserId: to, amountMinor, createdAt: now },
  };
}

/** Moves `balances` forward by an accepted decision's legs. */
export function applyDecision(balances: Balances, decision: Decision): void {
  if (!decision.ok) return;
  for (const leg of decision.legs) balances.set(leg.userId, leg.balanceAfterMinor);
}

/** The users a command touches (to lock them). */
export function usersOf(command: MoneyCommand): string[] {
  return command.op === 'transfer' ? [command.fromUserId, command.toUserId] : [command.userId];
}

function refuse(code: 'user_not_found' | 'insufficient_funds' | 'balance_limit_exceeded', detail: string): Decision {
  return { ok: false, error: new AppError(code, detail) };
}
