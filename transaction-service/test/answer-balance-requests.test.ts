import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import { BALANCE_QUEUE_GROUP, createLogger, type BalanceReply } from '@wallet/platform';
import { metricValue, requestJson, scrapeMetric, scrapeMetrics, startTransactionServiceHarness, TEST_NATS_URL, testNatsLogin, type TransactionServiceHarness, uniqueName, waitFor } from '@wallet/platform/testkit';
import { loadTransactionServiceConfig } from '../src/config';
import { startTransactionService, type RunningTransactionService } from '../src/start-service';

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

/** An extra instance in its own consumer group: its start and stop never rebalance the others'. */
const ownGroup = () => ({ KAFKA_CONSUMER_GROUP: uniqueName('test-tx-extra') });

async function ask(payload: string): Promise<BalanceReply> {
  const reply = await nats.request(h.env.BALANCE_SUBJECT!, Buffer.from(payload), { timeout: 2_000 });
  return JSON.parse(Buffer.from(reply.data).toString('utf8')) as BalanceReply;
}

async function answeredCount(url: string): Promise<number> {
  return (await scrapeMetric(url, 'nats_balance_requests_answered_total')) ?? 0;
}

test('answers the balance of a known user as a decimal string', async () => {
  const [user] = await h.createUsers(1);
  await h.fund(user!, '12.34');
  assert.deepEqual(await ask(JSON.stringify({ user_id: user })), { ok: true, user_id: user, balance: '12.34', available_balance: '12.34' });
});

test('says user_not_found (naming the user) for a user that has not arrived, invalid_request for garbage', async () => {
  const unknown = randomUUID();
  assert.deepEqual(await ask(JSON.stringify({ user_id: unknown })), { ok: false, error: 'user_not_found', user_id: unknown });
  // The id is echoed in its canonical, lower-case form.
  assert.deepEqual(await ask(JSON.stringify({ user_id: unknown.toUpperCase() })), { ok: false, error: 'user_not_found', user_id: unknown });
  assert.deepEqual(await ask('not json'), { ok: false, error: 'invalid_request' });
  assert.deepEqual(await ask(JSON.stringify({ user_id: 'nope' })), { ok: false, error: 'invalid_request' });
});

async function droppedCount(url: string, reason: string): Promise<number> {
  const metrics = String((await requestJson<string>(`${url}/metrics`)).body);
  const line = new RegExp(`^nats_balance_requests_dropped_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)$`, 'm').exec(metrics);
  return Number(line?.[1] ?? 0);
}

test("a request naming a reply subject outside user-service's inbox is neither read nor answered; the same request with an inbox reply is", async () => {
  const [user] = await h.createUsers(1);
  const request = JSON.stringify({ user_id: user });
  // Anything published to this subject reaches the listener (checked below), a reply included.
  const outside = `${h.env.BALANCE_SUBJECT!}.outside-reply`;
  const listener = await connect({ servers: TEST_NATS_URL, ...testNatsLogin('transaction-service') });
  try {
    const heard: string[] = [];
    listener.subscribe(outside, { queue: BALANCE_QUEUE_GROUP, callback: (_error, msg) => heard.push(msg.string()) });
    await listener.flush();
    const dropped = async () => (await droppedCount(h.url, 'foreign_reply')) + (await droppedCount(second.url, 'foreign_reply'));
    const before = await dropped();

    nats.publish(h.env.BALANCE_SUBJECT!, request, { reply: outside });
    await nats.flush();
    await waitFor(async () => ((await dropped()) === before + 1 ? true : undefined), { what: 'the foreign reply subject dropped' });
    nats.publish(outside, 'probe');
    await nats.flush();
    await waitFor(() => Promise.resolve(heard.length > 0 ? true : undefined), { what: 'the probe at the listener' });
    assert.deepEqual(heard, ['probe'], 'only the probe arrived, no reply');

    assert.deepEqual(await ask(request), { ok: true, user_id: user, balance: '0.00', available_balance: '0.00' });
  } finally {
    await listener.close();
  }
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

test('the budget: while the reads are stuck, BALANCE_MAX_PENDING requests wait and the rest are answered busy at once', async () => {
  const subject = `${h.env.BALANCE_SUBJECT!}.budget`;
  const bounded = await startTransactionService(
    loadTransactionServiceConfig({ ...h.env, PORT: '0', BALANCE_SUBJECT: subject, BALANCE_MAX_PENDING: '3', BALANCE_DB_POOL_MAX: '1', ...ownGroup() }),
    createLogger({ service: 'transaction-service-bounded', level: 'silent' }),
  );
  const [user] = await h.createUsers(1);
  const trx = await h.db.transaction();
  try {
    // Nothing can read users until this transaction ends: the responder's reads hang.
    await trx.raw('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
    const replies: Array<BalanceReply | undefined> = Array.from({ length: 10 }, () => undefined);
    const asked = replies.map(async (_, i) => {
      const reply = await nats.request(subject, Buffer.from(JSON.stringify({ user_id: user })), { timeout: 10_000 });
      replies[i] = JSON.parse(Buffer.from(reply.data).toString('utf8')) as BalanceReply;
    });
    await waitFor(() => Promise.resolve(replies.filter((r) => r !== undefined).length >= 7 ? true : undefined), {
      what: 'the busy answers',
    });
    assert.deepEqual(
      replies.filter((r) => r !== undefined),
      Array.from({ length: 7 }, () => ({ ok: false, error: 'busy', user_id: user })),
    );
    await trx.commit();
    await Promise.all(asked);
    assert.equal(replies.filter((r) => r?.ok === true).length, 3);
  } finally {
    if (!trx.isCompleted()) await trx.rollback();
    await bounded.stop();
  }
});

test('waiting requests are read in one query; messages nobody waits for and garbage cost no read', async () => {
  const subject = `${h.env.BALANCE_SUBJECT!}.batch`;
  const batching = await startTransactionService(
    loadTransactionServiceConfig({ ...h.env, PORT: '0', BALANCE_SUBJECT: subject, BALANCE_DB_POOL_MAX: '1', ...ownGroup() }),
    createLogger({ service: 'transaction-service-batching', level: 'silent' }),
  );
  const users = await h.createUsers(5);
  const trx = await h.db.transaction();
  try {
    await trx.raw('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
    for (let i = 0; i < 50; i += 1) nats.publish(subject, Buffer.from(JSON.stringify({ user_id: users[i % 5] })));
    const garbage = await Promise.all(
      ['nope', '{"user_id":"x"}', 'x'.repeat(5_000)].map((text) => nats.request(subject, Buffer.from(text), { timeout: 5_000 })),
    );
    for (const reply of garbage) assert.deepEqual(JSON.parse(Buffer.from(reply.data).toString('utf8')), { ok: false, error: 'invalid_request' });
    const asked = Array.from({ length: 200 }, (_, i) =>
      nats.request(subject, Buffer.from(JSON.stringify({ user_id: users[i % 5] })), { timeout: 10_000 }),
    );
    await nats.flush();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await trx.commit();
    const replies = (await Promise.all(asked)).map((m) => JSON.parse(Buffer.from(m.data).toString('utf8')) as BalanceReply);
    assert.ok(replies.every((r, i) => r.ok && r.user_id === users[i % 5] && r.balance === '0.00'));

    const metrics = await scrapeMetrics(batching.url);
    assert.equal(metricValue(metrics, 'nats_balance_requests_dropped_total', { reason: 'no_reply' }), 50);
    const queries = metricValue(metrics, 'nats_balance_batch_size_count') ?? Number.NaN;
    const read = metricValue(metrics, 'nats_balance_batch_size_sum');
    // The first request found the responder idle (a batch of one, stuck on the lock); the other
    // 199 gathered meanwhile and were read together.
    assert.equal(read, 200);
    assert.ok(queries <= 3, `${queries} queries for 200 requests`);
  } finally {
    if (!trx.isCompleted()) await trx.rollback();
    await batching.stop();
  }
});
