/** A reviewer's probes, kept as regression checks: atomic batches with held rows, duplicate keys, holds. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { requestJson, startTransactionServiceHarness, type TransactionServiceHarness, whileRowLocked } from '@wallet/platform/testkit';

let h: TransactionServiceHarness;
before(async () => {
  h = await startTransactionServiceHarness({ HOLD_SWEEP_INTERVAL_MS: '0', MONEY_LOCK_TIMEOUT_MS: '300', MONEY_LOCK_RETRIES: '1' });
});
after(async () => {
  await h?.stop();
});

type Results = Array<{ status: number; body: Record<string, unknown>; replayed: boolean }>;
const batch = async (operations: unknown[], atomic = true) => {
  const r = await requestJson<{ code?: string; results: Results }>(`${h.url}/batch`, { body: { atomic, operations }, timeoutMs: 60_000 });
  return { status: r.status, results: r.body.results, body: r.body };
};
const balance = async (u: string) => (await requestJson<{ balance: string; available_balance: string }>(`${h.url}/users/${u}/balance`)).body;

test('a member on a held row sets the whole group aside; nothing applied', async () => {
  const [a, b, c, d] = (await h.createUsers(4)) as [string, string, string, string];
  await h.fund(a, '10.00');
  await h.fund(c, '10.00');
  const held = await whileRowLocked(h.db, a, () =>
    batch([
      { op: 'transfer', from_user_id: c, to_user_id: d, amount_to_transfer: '1.00' },
      { op: 'transfer', from_user_id: a, to_user_id: b, amount_to_transfer: '1.00' },
    ]),
  );
  // Set aside whole (503 each, after the lock retries): nothing of it happened, and the batch as a
  // whole is a 503 to send again (a passing reason), not a 422 refusal.
  assert.deepEqual(held.results.map((x) => x.status), [503, 503]);
  assert.equal(held.status, 503);
  assert.equal(held.body.code, 'service_unavailable');
  assert.deepEqual((await balance(c)).balance, '10.00');
});

test('duplicate keys inside one atomic batch; hold + void + spend; capture + void of one hold', async () => {
  const [a, b] = (await h.createUsers(2)) as [string, string];
  await h.fund(a, '10.00');
  const key = `dup-${randomUUID()}`;
  const same = await batch([
    { op: 'transfer', idempotency_key: key, from_user_id: a, to_user_id: b, amount_to_transfer: '1.00' },
    { op: 'transfer', idempotency_key: key, from_user_id: a, to_user_id: b, amount_to_transfer: '1.00' },
  ]);
  assert.deepEqual(same.results.map((x) => [x.status, x.replayed]), [[201, false], [201, true]]);
  assert.equal((await balance(a)).balance, '9.00');
  const key2 = `dup2-${randomUUID()}`;
  const differ = await batch([
    { op: 'add-money', user_id: b, amount: '1.00' },
    { op: 'transfer', idempotency_key: key2, from_user_id: a, to_user_id: b, amount_to_transfer: '1.00' },
    { op: 'transfer', idempotency_key: key2, from_user_id: a, to_user_id: b, amount_to_transfer: '2.00' },
  ]);
  assert.equal((await balance(a)).balance, '9.00');
  assert.equal(differ.status, 422);
  // Each member keeps its own outcome. (A reviewer found one member's rejection copied onto every
  // member: the unkeyed add-money and the leader, whose key stored linked_operation_failed, were
  // reported as idempotency_key_reused, so a retry of the leader's key answered something else.)
  assert.deepEqual(differ.results.map((x) => x.body.code), ['linked_operation_failed', 'linked_operation_failed', 'idempotency_key_reused']);
  // the retry replays the same refusal (no flip)
  const again = await batch([{ op: 'transfer', idempotency_key: key2, from_user_id: a, to_user_id: b, amount_to_transfer: '1.00' }], false);
  assert.equal(again.results[0]!.status, 422);

  const hold = await requestJson<{ hold_id: string }>(`${h.url}/holds`, { body: { from_user_id: a, to_user_id: b, amount: '9.00' } });
  const spend = await batch([
    { op: 'void', hold_id: hold.body.hold_id },
    { op: 'transfer', from_user_id: a, to_user_id: b, amount_to_transfer: '9.00' },
  ]);
  assert.equal(spend.status, 200);
  await h.fund(a, '5.00');
  const hold2 = await requestJson<{ hold_id: string }>(`${h.url}/holds`, { body: { from_user_id: a, to_user_id: b, amount: '5.00' } });
  const both = await batch([
    { op: 'capture', hold_id: hold2.body.hold_id, amount: '2.00' },
    { op: 'void', hold_id: hold2.body.hold_id },
  ]);
  assert.equal(both.status, 422);
  assert.deepEqual(Object.values(await balance(a)).slice(1), ['5.00', '0.00']);
  const capRemainder = await batch([
    { op: 'capture', hold_id: hold2.body.hold_id, amount: '2.00' },
    { op: 'transfer', from_user_id: a, to_user_id: b, amount_to_transfer: '3.00' },
  ]);
  assert.equal(capRemainder.status, 200);
  assert.deepEqual(Object.values(await balance(a)).slice(1), ['0.00', '0.00']);
});
