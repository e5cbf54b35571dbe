/**
 * Every money event type toMoneyEvent builds validates against its published JSON Schema, with the
 * fields the contract names: credits and debits carry available_balance_after (and hold_id only for
 * a capture's two entries); holds and releases carry {user_id, hold_id, amount, balance_after,
 * available_balance_after, created_at} and nothing else (ADR 10, amended by ADR 12).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { MONEY_EVENT_TYPES, toMoneyEvent, type LedgerEntryRow, type MoneyEventType } from '@wallet/platform';
import { REPO_ROOT } from '@wallet/platform/testkit';

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
/** The schema's validator, compiled once (a schema's $id may be added to one Ajv only once). */
const validate = (type: MoneyEventType) =>
  ajv.getSchema(type) ??
  ajv.compile(JSON.parse(readFileSync(join(REPO_ROOT, 'platform', 'runtime', 'contracts', 'schemas', `${type}.json`), 'utf8')) as object);

function row(fields: Partial<LedgerEntryRow>): LedgerEntryRow {
  return {
    id: randomUUID(),
    user_id: randomUUID(),
    type: 'credit',
    kind: 'add_money',
    amount_minor: '1250',
    balance_after_minor: '5000',
    available_after_minor: '4000',
    transfer_id: null,
    hold_id: null,
    counterparty_user_id: null,
    sequence: '3',
    created_at: new Date('2026-12-06T01:02:03.456Z'),
    ...fields,
  };
}

test('a hold and a release are funds events with exactly the contract fields', () => {
  for (const [type, eventType] of [['hold', MONEY_EVENT_TYPES.hold], ['release', MONEY_EVENT_TYPES.release]] as const) {
    const holdId = randomUUID();
    const entry = row({ type, kind: 'hold', hold_id: holdId, counterparty_user_id: randomUUID() });
    const event = toMoneyEvent(entry);
    assert.equal(event.type, eventType);
    assert.deepEqual(event.data, {
      user_id: entry.user_id,
      hold_id: holdId,
      amount: '12.50',
      balance_after: '50.00',
      available_balance_after: '40.00',
      created_at: '2026-12-06T01:02:03.456Z',
    });
    const check = validate(eventType);
    assert.ok(check(event), JSON.stringify(check.errors));
    assert.equal(check({ ...event, data: { ...event.data, entry_id: entry.id } }), false, 'no field beyond the contract');
  }
});

test("credits and debits carry available_balance_after; only a capture's carry hold_id", () => {
  const plain = toMoneyEvent(row({ type: 'debit', kind: 'transfer', transfer_id: randomUUID(), counterparty_user_id: randomUUID() }));
  assert.equal('hold_id' in plain.data, false);
  assert.equal(plain.data.available_balance_after, '40.00');
  const holdId = randomUUID();
  const capture = toMoneyEvent(row({ type: 'credit', kind: 'transfer', transfer_id: randomUUID(), counterparty_user_id: randomUUID(), hold_id: holdId }));
  assert.equal((capture.data as { hold_id?: string }).hold_id, holdId);
  for (const event of [plain, capture, toMoneyEvent(row({}))]) {
    const check = validate(event.type);
    assert.ok(check(event), `${event.type}: ${JSON.stringify(check.errors)}`);
  }
});
