/**
 * REVIEW2: a hold captured before its expiry (by the database's clock) whose batch is still
 * committing after expires_at. GET /users/{id}/balance waits for the batch (countedUnreleasedExpiry
 * -> afterWriters) so it never counts that money available; the NATS balance reply (readBalances)
 * does not wait, and answers available_balance = 100.00 for money that ends captured.
 * The batch is slowed after it read the clock by an outside session holding SHARE on money_batches
 * (the batch's marker INSERT waits for it).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from 'nats';
import { sleep } from '@wallet/platform';
import { requestJson, startTransactionServiceHarness, TEST_NATS_URL, testNatsLogin, type TransactionServiceHarness } from '@wallet/platform/testkit';

let h: TransactionServiceHarness;
let nats: NatsConnection;
before(async () => {
  h = await startTransactionServiceHarness({ HOLD_SWEEP_INTERVAL_MS: '0', MONEY_LOCK_TIMEOUT_MS: '10000' });
  nats = await connect({ servers: TEST_NATS_URL, ...testNatsLogin('user-service') });
});
after(async () => {
  await nats.close();
  await h?.stop();
});

test('no balance read counts as available the money of a hold that ends captured', async () => {
  const [a, b] = (await h.createUsers(2)) as [string, string];
  await h.fund(a, '100.00');
  const hold = await requestJson<{ hold_id: string; expires_at: string }>(`${h.url}/holds`, {
    body: { from_user_id: a, to_user_id: b, amount: '60.00', expires_in_seconds: 2 },
  });
  assert.equal(hold.status, 201);
  const outside = await h.db.transaction();
  await outside.raw('LOCK TABLE money_batches IN SHARE MODE');
  const capture = requestJson<{ status: string }>(`${h.url}/holds/${hold.body.hold_id}/capture`, { body: {}, timeoutMs: 30_000 });
  // Wait until past expires_at while the capture (which read the clock before it) waits to write.
  while (Date.now() < Date.parse(hold.body.expires_at) + 300) await sleep(50);
  // The read must wait for the capture's batch (it holds the sender's row): let the capture go a
  // moment after the request is sent, and only then can the answer come.
  const asking = nats.request(h.env.BALANCE_SUBJECT!, Buffer.from(JSON.stringify({ user_id: a })), { timeout: 10_000 });
  await sleep(300);
  await outside.commit();
  const reply = await asking;
  const natsBody = JSON.parse(Buffer.from(reply.data).toString()) as { available_balance?: string; balance?: string };
  const captured = await capture;
  assert.equal(captured.status, 200);
  assert.equal(captured.body.status, 'captured');
  assert.ok(natsBody.available_balance === '40.00', `NATS said available ${natsBody.available_balance}; the hold ended captured (available was never above 40.00)`);
});
