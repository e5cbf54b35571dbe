import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  holdRowLock,
  requestJson,
  startTransactionServiceHarness,
  type TransactionServiceHarness,
  waitFor,
  waitUntilWaitingOnLock,
} from '@wallet/platform/testkit';

/**
 * The money queue's bound as a client sees it: a full queue answers at once with 503 problem+json
 * and Retry-After, and what it refused never moves.
 */
let h: TransactionServiceHarness;
before(async () => {
  h = await startTransactionServiceHarness({ MONEY_QUEUE_LIMIT: '5', MONEY_LOCK_TIMEOUT_MS: '60000' });
});
after(async () => {
  await h.stop();
});

test('a full money queue: 503 service_unavailable with Retry-After, nothing moved for what it refused', async () => {
  const [a, b, blocker] = (await h.createUsers(3)) as [string, string, string];
  await h.fund(a, '100.00');

  // Park the engine: its batch waits on a row lock this test holds, so the next requests queue.
  const gate = await holdRowLock(h.db, blocker);
  const parked = requestJson(`${h.url}/add-money`, { body: { user_id: blocker, amount: '1.00' } });
  await waitUntilWaitingOnLock(h.db, 'transaction-service-money', 'the money engine to wait on the test row lock');

  // Each response records whether it came back while the engine was still parked.
  let gateOpen = false;
  const answeredWhileParked: boolean[] = [];
  const pending = Array.from({ length: 40 }, (_, i) => {
    answeredWhileParked[i] = false;
    return requestJson(`${h.url}/transfer`, {
      body: { from_user_id: a, to_user_id: b, amount_to_transfer: '1.00' },
      headers: { 'Idempotency-Key': `queue-${a}-${i}` },
    }).finally(() => (answeredWhileParked[i] = !gateOpen));
  });
  // The refusals come back while the engine is still parked: they never waited for a batch. The
  // five it accepted are still waiting for the parked batch.
  const answeredCount = () => answeredWhileParked.filter(Boolean).length;
  await waitFor(() => Promise.resolve(answeredCount() >= 35 ? true : undefined), {
    timeoutMs: 10_000,
    what: '35 refusals while the engine is parked',
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(answeredCount(), 35, 'only the refusals came back while the engine was parked');
  gateOpen = true;
  await gate.release();
  assert.equal((await parked).status, 200);

  const responses = await Promise.all(pending);
  const refused = responses.filter((r) => r.status === 503);
  const moved = responses.filter((r) => r.status === 201);
  assert.equal(moved.length, 5, 'exactly the queue limit was accepted');
  assert.equal(refused.length, 35);
  responses.forEach((r, i) =>
    assert.equal(answeredWhileParked[i], r.status === 503, `request ${i} (${r.status}) came back ${answeredWhileParked[i] ? 'before' : 'after'} the gate opened`),
  );
  for (const r of refused) {
    assert.equal(r.headers.get('content-type'), 'application/problem+json');
    assert.equal(r.headers.get('retry-after'), '1');
    assert.equal((r.body as { code?: string }).code, 'service_unavailable');
  }
  const balances = await Promise.all(
    [a, b].map(async (u) => (await requestJson<{ balance: string }>(`${h.url}/users/${u}/balance`)).body.balance),
  );
  assert.deepEqual(balances, ['95.00', '5.00']);

  // A refused request retried with its key once the queue has room is executed, once.
  const index = responses.findIndex((r) => r.status === 503);
  const retried = await requestJson(`${h.url}/transfer`, {
    body: { from_user_id: a, to_user_id: b, amount_to_transfer: '1.00' },
    headers: { 'Idempotency-Key': `queue-${a}-${index}` },
  });
  assert.equal(retried.status, 201);
  assert.equal(retried.headers.get('idempotent-replayed'), null);
});
