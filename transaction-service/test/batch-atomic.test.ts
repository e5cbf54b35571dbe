/**
 * POST /batch with atomic: true (ADR 13), and the hold operations in a batch: all operations in one
 * database transaction, applied in order, each seeing the ones before, or none — never a success
 * body for something that did not happen; the keys of a refused atomic batch store that outcome.
 * Real HTTP, real PostgreSQL, real concurrency.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { requestJson, startTransactionServiceHarness, type TransactionServiceHarness } from '@wallet/platform/testkit';
import { reconcileBalances } from '../src/domain/reconcile-balances';

interface BatchResult {
  status: number;
  body: Record<string, unknown>;
  replayed: boolean;
}

let h: TransactionServiceHarness;
before(async () => {
  // Small engine batches: an atomic batch larger than one must still go whole.
  h = await startTransactionServiceHarness({ MONEY_BATCH_MAX: '50', DB_POOL_MAX: '20' });
});
after(async () => {
  await h?.stop();
});

async function postBatch(operations: unknown[], atomic: boolean): Promise<{ status: number; results: BatchResult[] }> {
  const response = await requestJson<{ results: BatchResult[]; code?: string }>(`${h.url}/batch`, { body: { atomic, operations }, timeoutMs: 60_000 });
  assert.ok(response.status === 200 || response.status === 422, JSON.stringify(response.body).slice(0, 300));
  if (response.status === 422) {
    // Not applied: a problem document as a whole, carrying each operation's result.
    assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(response.body.code, 'atomic_batch_refused');
  }
  return { status: response.status, results: response.body.results };
}

async function balances(userId: string): Promise<[string, string]> {
  const response = await requestJson<{ balance: string; available_balance: string }>(`${h.url}/users/${userId}/balance`);
  return [response.body.balance, response.body.available_balance];
}

async function ledgerRows(): Promise<number> {
  return Number((await h.db('transactions').count<{ count: string }[]>('* as count'))[0]!.count);
}

describe('atomic batches', () => {
  test('applied in order, each operation seeing the ones before', async () => {
    const [a, b] = (await h.createUsers(2)) as [string, string];
    const { status, results } = await postBatch(
      [
        { op: 'add-money', user_id: a, amount: '10.00' },
        { op: 'transfer', from_user_id: a, to_user_id: b, amount_to_transfer: '10.00' },
        { op: 'hold', from_user_id: b, to_user_id: a, amount: '4.00' },
        { op: 'transfer', from_user_id: b, to_user_id: a, amount_to_transfer: '6.00' },
      ],
      true,
    );
    assert.equal(status, 200);
    assert.deepEqual(results.map((r) => r.status), [200, 201, 201, 201]);
    assert.deepEqual(await balances(a), ['6.00', '6.00']);
    assert.deepEqual(await balances(b), ['4.00', '0.00']);
  });

  test('one refusal applies none: its own error, every other 422 linked_operation_failed; a retry replays it', async () => {
    const [a, b] = (await h.createUsers(2)) as [string, string];
    await h.fund(a, '5.00');
    const before = await ledgerRows();
    const operations = [
      { op: 'add-money', idempotency_key: `atomic-${randomUUID()}`, user_id: b, amount: '1.00' },
      { op: 'transfer', idempotency_key: `atomic-${randomUUID()}`, from_user_id: a, to_user_id: b, amount_to_transfer: '5.01' },
      { op: 'transfer', from_user_id: a, to_user_id: b, amount_to_transfer: '1.00' },
    ];
    const first = await postBatch(operations, true);
    assert.equal(first.status, 422);
    assert.deepEqual(first.results.map((r) => [r.status, r.body.code]), [
      [422, 'linked_operation_failed'],
      [422, 'insufficient_funds'],
      [422, 'linked_operation_failed'],
    ]);
    for (const result of first.results) assert.equal(result.body.transfer_id ?? result.body.transaction_id, undefined, 'never a success body');
    assert.equal(await ledgerRows(), before, 'nothing applied');
    assert.deepEqual(await balances(b), ['0.00', '0.00']);
    // The situation changes (a is funded), but the keyed outcomes never flip: the retry replays them.
    await h.fund(a, '10.00');
    const again = await postBatch(operations, true);
    assert.equal(again.status, 422);
    assert.deepEqual(again.results.map((r) => [r.status, r.body.code, r.replayed]), [
      [422, 'linked_operation_failed', true],
      [422, 'insufficient_funds', true],
      [422, 'linked_operation_failed', false],
    ]);
    assert.deepEqual(await balances(b), ['0.00', '0.00']);
  });

  test('an invalid operation refuses the batch before anything runs', async () => {
    const [a, b] = (await h.createUsers(2)) as [string, string];
    const before = await ledgerRows();
    const { status, results } = await postBatch(
      [
        { op: 'add-money', user_id: a, amount: '1.00' },
        { op: 'transfer', from_user_id: a, to_user_id: a, amount_to_transfer: '1.00' },
        { op: 'add-money', user_id: b, amount: '0.001' },
      ],
      true,
    );
    assert.equal(status, 422);
    assert.deepEqual(results.map((r) => [r.status, r.body.code]), [
      [422, 'linked_operation_failed'],
      [400, 'self_transfer'],
      [400, 'invalid_amount'],
    ]);
    assert.equal(await ledgerRows(), before);
  });

  test('a batch larger than the engine batch size goes whole, in one transaction', async () => {
    const users = await h.createUsers(10);
    const operations = users.flatMap((user) => Array.from({ length: 20 }, () => ({ op: 'add-money', user_id: user, amount: '0.01' })));
    const { status, results } = await postBatch(operations, true);
    assert.equal(status, 200);
    assert.ok(results.every((r) => r.status === 200));
    const times = await h.db('transactions').whereIn('user_id', users).distinct('created_at');
    assert.equal(times.length, 1, 'one batch: every row has the batch time');
    for (const user of users) assert.deepEqual(await balances(user), ['0.20', '0.20']);
  });

  test('200 concurrent atomic batches on overlapping users: each all or nothing, the books exact', async () => {
    const users = await h.createUsers(6);
    for (const user of users) await h.fund(user, '3.00');
    const pick = () => users[Math.floor(Math.random() * users.length)]!;
    const batches = Array.from({ length: 200 }, () =>
      Array.from({ length: 3 }, () => {
        const from = pick();
        let to = pick();
        while (to === from) to = pick();
        return { op: 'transfer', idempotency_key: randomUUID(), from_user_id: from, to_user_id: to, amount_to_transfer: '1.00' };
      }),
    );
    const answers = await Promise.all(batches.map((operations) => postBatch(operations, true)));
    const moved = new Map(users.map((u) => [u, 300n]));
    for (const [i, answer] of answers.entries()) {
      const applied = answer.results.every((r) => r.status === 201);
      assert.equal(answer.status, applied ? 200 : 422);
      if (!applied) {
        assert.ok(answer.results.every((r) => r.status === 422), 'none of a refused batch succeeded');
        continue;
      }
      for (const op of batches[i]!) {
        moved.set(op.from_user_id, moved.get(op.from_user_id)! - 100n);
        moved.set(op.to_user_id, moved.get(op.to_user_id)! + 100n);
      }
    }
    for (const user of users) {
      const cents = moved.get(user)!;
      assert.equal((await balances(user))[0], `${cents / 100n}.${(cents % 100n).toString().padStart(2, '0')}`);
    }
    const report = await reconcileBalances(h.db);
    assert.deepEqual(report.mismatches, []);
  });
});

describe('hold operations in a batch', () => {
  test('hold, capture and void answer as their single endpoints do', async () => {
    const [a, b] = (await h.createUsers(2)) as [string, string];
    await h.fund(a, '10.00');
    const placed = await postBatch(
      [
        { op: 'hold', from_user_id: a, to_user_id: b, amount: '3.00' },
        { op: 'hold', from_user_id: a, to_user_id: b, amount: '2.00', expires_in_seconds: 60 },
        { op: 'hold', from_user_id: a, to_user_id: b, amount: '99.00' },
      ],
      false,
    );
    assert.deepEqual(placed.results.map((r) => r.status), [201, 201, 422]);
    const [first, second] = placed.results.map((r) => String(r.body.hold_id));
    const resolved = await postBatch(
      [
        { op: 'capture', hold_id: first, amount: '1.00' },
        { op: 'void', hold_id: second },
        { op: 'void', hold_id: first },
        { op: 'capture', hold_id: randomUUID() },
        { op: 'capture', hold_id: 'nope' },
      ],
      false,
    );
    assert.deepEqual(resolved.results.map((r) => [r.status, r.body.code ?? r.body.status]), [
      [200, 'captured'],
      [200, 'voided'],
      [409, 'hold_already_captured'],
      [404, 'hold_not_found'],
      [400, 'validation_failed'],
    ]);
    assert.deepEqual(await balances(a), ['9.00', '9.00']);
    assert.deepEqual(await balances(b), ['1.00', '1.00']);
  });
});
