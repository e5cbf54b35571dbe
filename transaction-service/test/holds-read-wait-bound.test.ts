/**
 * A read that would count an expired hold not yet released first waits for the batch that may hold
 * its sender's row (ADR 12). That wait is bounded by AS_OF_LOCK_TIMEOUT_MS, over HTTP and NATS alike:
 * a row held longer is a 503 (HTTP) or `busy` (NATS) to retry, never a 500 after the statement
 * timeout. Once the row is free, the same reads answer the expired hold as released money.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from 'nats';
import { sleep } from '@wallet/platform';
import { requestJson, startTransactionServiceHarness, TEST_NATS_URL, testNatsLogin, whileRowLocked, type TransactionServiceHarness } from '@wallet/platform/testkit';

const LOCK_TIMEOUT_MS = 300;

let h: TransactionServiceHarness;
let nats: NatsConnection;
before(async () => {
  // No sweeper: the expired hold stays unreleased until a batch of its sender.
  h = await startTransactionServiceHarness({ HOLD_SWEEP_INTERVAL_MS: '0', AS_OF_LOCK_TIMEOUT_MS: String(LOCK_TIMEOUT_MS) });
  nats = await connect({ servers: TEST_NATS_URL, ...testNatsLogin('user-service') });
});
after(async () => {
  await nats?.close();
  await h?.stop();
});

async function askNats(userId: string): Promise<Record<string, unknown>> {
  const reply = await nats.request(h.env.BALANCE_SUBJECT!, Buffer.from(JSON.stringify({ user_id: userId })), { timeout: 10_000 });
  return JSON.parse(Buffer.from(reply.data).toString('utf8')) as Record<string, unknown>;
}

test(`an expired, unreleased hold on a row held elsewhere: reads answer 503 / busy within the lock timeout (${LOCK_TIMEOUT_MS} ms), then the released money`, async () => {
  const [a, b] = (await h.createUsers(2)) as [string, string];
  await h.fund(a, '10.00');
  const hold = await requestJson<{ hold_id: string; expires_at: string }>(`${h.url}/holds`, {
    body: { from_user_id: a, to_user_id: b, amount: '4.00', expires_in_seconds: 1 },
  });
  assert.equal(hold.status, 201);
  while (Date.now() < Date.parse(hold.body.expires_at) + 200) await sleep(50);

  await whileRowLocked(h.db, a, async () => {
    for (const path of [`/users/${a}/balance`, `/holds/${hold.body.hold_id}`, `/users/${a}/holds`]) {
      const started = performance.now();
      const answer = await requestJson<{ code?: string }>(`${h.url}${path}`, { timeoutMs: 20_000 });
      const ms = performance.now() - started;
      assert.equal(answer.status, 503, `${path}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.code, 'service_unavailable');
      assert.equal(answer.headers.get('retry-after'), '1');
      assert.ok(ms < 5_000, `${path} answered after ${Math.round(ms)} ms: the wait is bounded by the lock timeout, not the statement timeout`);
    }
    assert.deepEqual(await askNats(a), { ok: false, error: 'busy', user_id: a });
  });

  const balance = await requestJson(`${h.url}/users/${a}/balance`);
  assert.deepEqual(balance.body, { user_id: a, balance: '10.00', available_balance: '10.00' });
  assert.equal((await requestJson<{ status: string }>(`${h.url}/holds/${hold.body.hold_id}`)).body.status, 'expired');
  assert.deepEqual(await askNats(a), { ok: true, user_id: a, balance: '10.00', available_balance: '10.00' });
});
