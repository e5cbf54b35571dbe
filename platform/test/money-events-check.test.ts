/**
 * The money-events check of the test kit on hand-made messages: it must pass a correct stream
 * (repeats included, as at-least-once delivery gives them) and name each kind of fault.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { formatMinor, toMoneyEvent, type LedgerEntryRow, type TransactionHistoryItem } from '@wallet/platform';
import { verifyMoneyEvents, type LedgerView, type ReceivedMoneyEvent } from '@wallet/platform/testkit';

const USER = randomUUID();

/** A user's ledger rows: credit 10.00, debit 2.50, credit 0.75 (balance 8.25). */
function ledgerRows(): LedgerEntryRow[] {
  const moves: Array<['credit' | 'debit', bigint]> = [['credit', 1000n], ['debit', 250n], ['credit', 75n]];
  let balance = 0n;
  return moves.map(([type, amount], i) => {
    balance += type === 'credit' ? amount : -amount;
    return {
      id: randomUUID(),
      user_id: USER,
      type,
      kind: i === 0 ? 'add_money' : 'transfer',
      amount_minor: String(amount),
      balance_after_minor: String(balance),
      available_after_minor: String(balance),
      transfer_id: i === 0 ? null : randomUUID(),
      hold_id: null,
      counterparty_user_id: i === 0 ? null : randomUUID(),
      sequence: String(i + 1),
      created_at: new Date(1_800_000_000_000 + i),
    };
  });
}

function viewOf(rows: readonly LedgerEntryRow[]): LedgerView {
  const history: TransactionHistoryItem[] = rows.map((row) => ({
    id: row.id,
    user_id: row.user_id,
    type: row.type as TransactionHistoryItem['type'],
    kind: row.kind as TransactionHistoryItem['kind'],
    amount: formatMinor(BigInt(row.amount_minor)),
    balance_after: formatMinor(BigInt(row.balance_after_minor)),
    transfer_id: row.transfer_id,
    counterparty_user_id: row.counterparty_user_id,
    created_at: row.created_at.toISOString(),
    sequence: row.sequence,
  }));
  // The API lists newest first.
  return { histories: new Map([[USER, history.reverse()]]), balances: new Map([[USER, 825n]]) };
}

function messages(values: readonly unknown[], partition = 1): ReceivedMoneyEvent[] {
  return values.map((value, offset) => ({ partition, offset: String(offset), key: USER, value: JSON.stringify(value), receivedAt: 0 }));
}

test('a correct stream passes, and a repeat is counted, not a fault', () => {
  const rows = ledgerRows();
  const events = rows.map(toMoneyEvent);
  const verdict = verifyMoneyEvents(messages([events[0], events[1], events[1], events[2]]), viewOf(rows));
  assert.deepEqual(verdict.problems, []);
  assert.deepEqual({ events: verdict.events, distinct: verdict.distinct, duplicates: verdict.duplicates, users: verdict.users }, { events: 4, distinct: 3, duplicates: 1, users: 1 });
});

test('a missing event is a gap and a ledger entry without an event', () => {
  const rows = ledgerRows();
  const events = rows.map(toMoneyEvent);
  const verdict = verifyMoneyEvents(messages([events[0], events[2]]), viewOf(rows));
  assert.match(verdict.problems.join('\n'), /1 ledger entries without an event/);
  assert.match(verdict.problems.join('\n'), /sequence 3 where 2 was due/);
});

test('a first occurrence out of order is reordering, even though every event is there', () => {
  const rows = ledgerRows();
  const events = rows.map(toMoneyEvent);
  // The repeat of 2 after 3 is fine; 3 arriving (first) before 2 is not.
  const verdict = verifyMoneyEvents(messages([events[0], events[2], events[1], events[2]]), viewOf(rows));
  assert.match(verdict.problems.join('\n'), /sequence 2 arrived after 3 \(reordered\)/);
  const fine = verifyMoneyEvents(messages([events[0], events[1], events[2], events[1]]), viewOf(rows));
  assert.deepEqual(fine.problems, []);
});

test('a broken balance_after chain, a wrong final balance and a repeat that differs are faults', () => {
  const rows = ledgerRows();
  const events = rows.map(toMoneyEvent);
  const broken = { ...events[1]!, data: { ...events[1]!.data, balance_after: '7.60' } };
  assert.match(verifyMoneyEvents(messages([events[0], broken, events[2]]), viewOf(rows)).problems.join('\n'), /balance_after chain breaks at sequence 2/);
  assert.match(verifyMoneyEvents(messages([events[0], events[1], { ...events[1]!, time: events[0]!.time }, events[2]]), viewOf(rows)).problems.join('\n'), /a repeat differs/);
  const view = viewOf(rows);
  view.balances.set(USER, 900n);
  assert.match(verifyMoneyEvents(messages(events), view).problems.join('\n'), /balance is 900/);
});

test('a message that breaks the schema, or whose key is not its subject, is a fault', () => {
  const rows = ledgerRows();
  const events = rows.map(toMoneyEvent);
  const numeric = { ...events[2]!, data: { ...events[2]!.data, amount: 0.75 } };
  assert.match(verifyMoneyEvents(messages([events[0], events[1], numeric]), viewOf(rows)).problems.join('\n'), /against the schema: \/data\/amount must be string/);
  const unknownType = { ...events[2]!, type: 'wallet.money.moved.v1' };
  assert.match(verifyMoneyEvents(messages([events[0], events[1], unknownType]), viewOf(rows)).problems.join('\n'), /no schema for type/);
  const wrongKey = messages(events).map((m, i) => (i === 1 ? { ...m, key: randomUUID() } : m));
  assert.match(verifyMoneyEvents(wrongKey, viewOf(rows)).problems.join('\n'), /message key .* is not its subject/);
});

test('one user spread over two partitions is a fault (the key must pin a user to one)', () => {
  const rows = ledgerRows();
  const events = rows.map(toMoneyEvent);
  const verdict = verifyMoneyEvents([...messages(events.slice(0, 2), 0), ...messages(events.slice(2), 2)], viewOf(rows));
  assert.match(verdict.problems.join('\n'), /spread over partitions 0,2/);
});
