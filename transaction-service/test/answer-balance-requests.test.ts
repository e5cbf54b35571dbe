import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import { createLogger, type BalanceReply } from '@wallet/platform';
import { TEST_NATS_URL, requestJson, testNatsLogin } from '@wallet/platform/testing';
import { loadTransactionServiceConfig } from '../src/config';
import { startTransactionService, type RunningTransactionService } from '../src/start-service';
import { startTransactionServiceHarness, type TransactionServiceHarness } from './support/transaction-service-harness';

let h: TransactionServiceHarness;
let second: RunningTransactionService;
let nats: NatsConnection;

before(async () => {
  h = await startTransactionServiceHarness();
  // A second instance on the same database and subject: the queue group must share the requests.
  second = await startTransactionService(
    loadTransactionServiceConfig({ ...h.env, PORT: '0' }),
    createLogger({ service: 'transaction-service-2', level: 'silent' }),
  );
  nats = await connect({ servers: TEST_NATS_URL, ...testNatsLogin('user-service') });
});
after(async () => {
  await nats.close();
  await second.stop();
  await h.stop();
});

async function ask(payload: string): Promise<BalanceReply> {
  const reply = await nats.request(h.env.BALANCE_SUBJECT!, Buffer.from(payload), { timeout: 2_000 });
  return JSON.parse(Buffer.from(reply.data).toString('utf8')) as BalanceReply;
}

async function answeredCount(url: string): Promise<number> {
  const metrics = await requestJson<string>(`${url}/metrics`);
  return [...String(metrics.body).matchAll(/^nats_balance_requests_answered_total\{[^}]*\} (\d+)/gm)]
    .map((m) => Number(m[1]))
    .reduce((a, b) => a + b, 0);
}

test('answers the balance of a known user as a decimal string', async () => {
  const [user] = await h.createUsers(1);
  await h.fund(user!, '12.34');
  assert.deepEqual(await ask(JSON.stringify({ user_id: user })), { ok: true, user_id: user, balance: '12.34' });
});

test('says user_not_found for a user that has not arrived, invalid_request for garbage', async () => {
  assert.deepEqual(await ask(JSON.stringify({ user_id: randomUUID() })), { ok: false, error: 'user_not_found' });
  assert.deepEqual(await ask('not json'), { ok: false, error: 'invalid_request' });
  assert.deepEqual(await ask(JSON.stringify({ user_id: 'nope' })), { ok: false, error: 'invalid_request' });
});

test('two instances in a queue group answer each request exactly once between them', async () => {
  const before = (await answeredCount(h.url)) + (await answeredCount(second.url));
  const [user] = await h.createUsers(1);
  const replies = await Promise.all(Array.from({ length: 40 }, () => ask(JSON.stringify({ user_id: user }))));
  assert.ok(replies.every((r) => r.ok));
  const first = await answeredCount(h.url);
  const other = await answeredCount(second.url);
  assert.equal(first + other - before, 40);
  assert.ok(other > 0 && first > 0, `both instances should answer some: ${first} / ${other}`);
});
