/**
 * @wallet/client against a real transaction-service, through a proxy that injects 503s, 504s and
 * connection resets: retries carry the same key and move money once; refusals are WalletApiError;
 * automatically batched calls each get their own result.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { holdRowLock, startTransactionServiceHarness, type TransactionServiceHarness, waitFor } from '@wallet/platform/testkit';
import { WalletApiError, WalletClient } from '../src';
import { startFaultProxy, type FaultProxy } from './fault-proxy';

let h: TransactionServiceHarness;
let proxy: FaultProxy;
const clients: WalletClient[] = [];

before(async () => {
  h = await startTransactionServiceHarness();
  proxy = await startFaultProxy(h.url);
});
after(async () => {
  for (const client of clients) client.close();
  await proxy?.close();
  await h?.stop();
});

/** A client through the proxy; small backoff so a test spends its time on the service, not asleep. */
function client(options: ConstructorParameters<typeof WalletClient>[0] = {}): WalletClient {
  const made = new WalletClient({ transactionServiceUrl: proxy.url, retry: { maxAttempts: 5, baseDelayMs: 5, maxDelayMs: 50 }, ...options });
  clients.push(made);
  return made;
}

async function fundedPair(amount = '100.00'): Promise<[string, string]> {
  const [from, to] = (await h.createUsers(2)) as [string, string];
  await h.fund(from, amount);
  return [from, to];
}

async function transfersFrom(userId: string): Promise<number> {
  const rows = await h.db('transactions').where({ user_id: userId, type: 'debit' }).count<{ count: string }[]>('* as count');
  return Number(rows[0]!.count);
}

/** The requests the proxy saw for `path` since `from` (an index into proxy.seen). */
const seenSince = (from: number, path: string) => proxy.seen.slice(from).filter((r) => r.path === path);

describe('money calls are retried with the same key', () => {
  test('a 503 with Retry-After, then the answer: one transfer, the same generated key twice, Retry-After waited', async () => {
    const [from, to] = await fundedPair();
    const start = proxy.seen.length;
    proxy.plan = ({ nth }) => (nth === 0 ? { status: 503, retryAfter: 1 } : 'forward');
    const result = await client().transfer({ from_user_id: from, to_user_id: to, amount_to_transfer: '12.50' });
    assert.equal(result.updated_balance, '87.50');
    const sent = seenSince(start, '/transfer');
    assert.equal(sent.length, 2);
    assert.match(sent[0]!.idempotencyKey ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(sent[1]!.idempotencyKey, sent[0]!.idempotencyKey);
    // Retry-After: 1 is a floor the client must respect (a lower bound only: never flaky).
    assert.ok(sent[1]!.at - sent[0]!.at >= 990, `retried after ${Math.round(sent[1]!.at - sent[0]!.at)} ms`);
    assert.equal(await transfersFrom(from), 1);
  });

  test('reset before sending, answer lost after the commit, then a 504: the third send replays the one transfer', async () => {
    const [from, to] = await fundedPair();
    const start = proxy.seen.length;
    const plan = ['reset-before', 'reset-after', { status: 504 }, 'forward'] as const;
    let sends = 0;
    proxy.plan = ({ path }) => (path === '/transfer' ? (plan[sends++] ?? 'forward') : 'forward');
    const result = await client().transfer({ from_user_id: from, to_user_id: to, amount_to_transfer: '30.00' }, { idempotencyKey: `mine-${from}` });
    const sent = seenSince(start, '/transfer');
    assert.deepEqual(sent.map((r) => r.fault), [...plan]);
    assert.ok(sent.every((r) => r.idempotencyKey === `mine-${from}`), 'every send carries the caller’s key');
    assert.equal(await transfersFrom(from), 1, 'the money moved once');
    const leg = await h.db('transactions').where({ user_id: from, type: 'debit' }).first<{ transfer_id: string }>();
    assert.equal(result.transfer_id, leg?.transfer_id, 'the answer is the transfer that happened');
    assert.equal(result.updated_balance, '70.00');
  });

  test('attempts are bounded: always 503 ends in WalletApiError 503 after maxAttempts sends, all with one key', async () => {
    const [from] = await fundedPair();
    const start = proxy.seen.length;
    proxy.plan = () => ({ status: 503, retryAfter: 0 });
    const error = await client({ retry: { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 5 } })
      .addMoney({ user_id: from, amount: '1.00' })
      .then(() => assert.fail('no error'), (e: unknown) => e);
    proxy.plan = () => 'forward';
    assert.ok(error instanceof WalletApiError);
    assert.equal(error.status, 503);
    assert.equal(error.code, 'service_unavailable');
    assert.equal(error.detail, 'injected by the test proxy');
    assert.equal(error.retryAfterSeconds, 0);
    const sent = seenSince(start, '/add-money');
    assert.equal(sent.length, 4);
    assert.equal(new Set(sent.map((r) => r.idempotencyKey)).size, 1);
    assert.equal(error.idempotencyKey, sent[0]!.idempotencyKey);
  });

  test('a refusal is not retried: 422 insufficient_funds as WalletApiError, one send', async () => {
    const [from, to] = await fundedPair('5.00');
    const start = proxy.seen.length;
    proxy.plan = () => 'forward';
    const error = await client()
      .transfer({ from_user_id: from, to_user_id: to, amount_to_transfer: '5.01' })
      .then(() => assert.fail('no error'), (e: unknown) => e);
    assert.ok(error instanceof WalletApiError);
    assert.deepEqual([error.status, error.code, error.problem?.status], [422, 'insufficient_funds', 422]);
    assert.equal(seenSince(start, '/transfer').length, 1);
  });
});

describe('batches', () => {
  test('a batch whose answer was lost is sent again with the same keys, and every operation replays', async () => {
    const [from, to] = await fundedPair();
    const start = proxy.seen.length;
    let batches = 0;
    proxy.plan = ({ path }) => (path === '/batch' && batches++ === 0 ? 'reset-after' : 'forward');
    const results = await client().batch([
      { op: 'transfer', from_user_id: from, to_user_id: to, amount_to_transfer: '1.00' },
      { op: 'add-money', user_id: to, amount: '2.00' },
      { op: 'transfer', from_user_id: from, to_user_id: from, amount_to_transfer: '1.00' },
    ]);
    assert.deepEqual(results.map((r) => [r.status, r.replayed]), [[201, true], [200, true], [400, false]]);
    const sent = seenSince(start, '/batch');
    assert.equal(sent.length, 2);
    assert.equal(sent[1]!.body, sent[0]!.body, 'the same operations with the same keys');
    assert.equal(await transfersFrom(from), 1);
  });

  test('operations answered 503 (queue full) are sent again with their keys until every one is done', async () => {
    const small = await startTransactionServiceHarness({ MONEY_QUEUE_LIMIT: '5' });
    try {
      const [user] = (await small.createUsers(1)) as [string];
      const direct = new WalletClient({ transactionServiceUrl: small.url, retry: { maxAttempts: 10, baseDelayMs: 5, maxDelayMs: 50, maxRetryAfterMs: 50 } });
      clients.push(direct);
      const results = await direct.batch(Array.from({ length: 20 }, () => ({ op: 'add-money' as const, user_id: user, amount: '1.00' })));
      assert.deepEqual(results.map((r) => r.status), Array<number>(20).fill(200));
      assert.equal((await direct.balance(user)).balance, '20.00', 'each operation ran exactly once');
    } finally {
      await small.stop();
    }
  });
});

describe('atomic batches', () => {
  test('refused only because a row is held elsewhere: sent again whole with the same keys, applied once when the row is free', async () => {
    const held = await startTransactionServiceHarness({ MONEY_LOCK_TIMEOUT_MS: '100', MONEY_LOCK_RETRIES: '0' });
    const heldProxy = await startFaultProxy(held.url);
    try {
      const [from, to] = (await held.createUsers(2)) as [string, string];
      await held.fund(from, '10.00');
      const direct = new WalletClient({ transactionServiceUrl: heldProxy.url, retry: { maxAttempts: 30, baseDelayMs: 50, maxDelayMs: 200, maxRetryAfterMs: 200 } });
      clients.push(direct);
      const lock = await holdRowLock(held.db, from);
      const batch = direct.batch(
        [
          { op: 'transfer', from_user_id: from, to_user_id: to, amount_to_transfer: '4.00' },
          { op: 'add-money', user_id: to, amount: '1.00' },
        ],
        { atomic: true },
      );
      // The row is freed only after the service refused the batch at least once and the client sent it again.
      await waitFor(() => Promise.resolve(heldProxy.seen.filter((r) => r.path === '/batch').length >= 2 ? true : undefined), { what: 'a second send' });
      await lock.release();
      const results = await batch;
      assert.deepEqual(results.map((r) => r.status), [201, 200]);
      const sends = heldProxy.seen.filter((r) => r.path === '/batch');
      assert.ok(sends.every((r) => r.body === sends[0]!.body), 'every send is the whole batch with the same keys');
      assert.deepEqual([(await direct.balance(from)).balance, (await direct.balance(to)).balance], ['6.00', '5.00'], 'applied once');
    } finally {
      await heldProxy.close();
      await held.stop();
    }
  });

  test('refused for good: WalletApiError 422 atomic_batch_refused with each operation\'s result, sent once', async () => {
    const [from, to] = await fundedPair('1.00');
    const start = proxy.seen.length;
    const refusal = await client()
      .batch(
        [
          { op: 'add-money', user_id: to, amount: '1.00' },
          { op: 'transfer', from_user_id: from, to_user_id: to, amount_to_transfer: '5.00' },
        ],
        { atomic: true },
      )
      .then(() => assert.fail('an atomic batch with a refused operation must throw'), (error: unknown) => error);
    assert.ok(refusal instanceof WalletApiError);
    assert.equal(refusal.status, 422);
    assert.equal(refusal.code, 'atomic_batch_refused');
    assert.deepEqual(refusal.results?.map((r) => [r.status, (r.body as { code?: string }).code]), [[422, 'linked_operation_failed'], [422, 'insufficient_funds']]);
    assert.equal(seenSince(start, '/batch').length, 1);
  });
});

describe('automatic batching', () => {
  test('200 concurrent transfer() calls go out as a few POST /batch, and each caller gets its own answer', async () => {
    const senders = await h.createUsers(200);
    const [receiver] = (await h.createUsers(1)) as [string];
    const auto = client({ autoBatch: { maxOperations: 100 } });
    const start = proxy.seen.length;
    proxy.plan = () => 'forward';
    await Promise.all(senders.map((user) => auto.addMoney({ user_id: user, amount: '10.00' })));
    // Every fourth caller overdraws; the last sends to itself (an invalid operation, answered 400 alone).
    const calls = senders.map((from, i) => ({ from, to: i === 199 ? from : receiver, amount: i % 4 === 0 ? '20.00' : `${1 + (i % 7)}.00` }));
    const outcomes = await Promise.allSettled(calls.map((c) => auto.transfer({ from_user_id: c.from, to_user_id: c.to, amount_to_transfer: c.amount })));
    calls.forEach((call, i) => {
      const outcome = outcomes[i]!;
      if (i === 199 || i % 4 === 0) {
        assert.equal(outcome.status, 'rejected', `caller ${i}`);
        const error = (outcome).reason as WalletApiError;
        assert.ok(error instanceof WalletApiError);
        assert.equal(error.code, i === 199 ? 'self_transfer' : 'insufficient_funds', `caller ${i}`);
        return;
      }
      assert.equal(outcome.status, 'fulfilled', `caller ${i}`);
      const transfer = (outcome).value;
      assert.deepEqual([transfer.from_user_id, transfer.to_user_id, transfer.amount], [call.from, receiver, call.amount]);
      assert.equal(transfer.updated_balance, `${10 - (1 + (i % 7))}.00`, `caller ${i}`);
    });
    const sent = proxy.seen.slice(start);
    assert.equal(sent.filter((r) => r.path !== '/batch').length, 0, 'no single requests');
    assert.ok(sent.length <= 8, `${sent.length} batches for 400 calls`);
  });
});
