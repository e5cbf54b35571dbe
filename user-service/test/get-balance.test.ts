import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from 'nats';
import { BALANCE_QUEUE_GROUP } from '@wallet/platform';
import { assertProblem, getWithJsonBody, requestJson, scrapeMetric, scrapeMetrics, metricValue, startTransactionServiceHarness, startUserServiceHarness, TEST_NATS_URL, testNatsLogin, type TransactionServiceHarness, type UserServiceHarness, waitFor } from '@wallet/platform/testkit';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy';

const BALANCE_TIMEOUT_MS = 400;

let h: UserServiceHarness;
let nats: NatsConnection;
let tx: TransactionServiceHarness | undefined;
let userId: string;
const email = 'balance.owner@example.com';

before(async () => {
  h = await startUserServiceHarness({ BALANCE_TIMEOUT_MS: String(BALANCE_TIMEOUT_MS) });
  // Plays transaction-service's part (its login, its queue group): the only one allowed to answer.
  nats = await connect({ servers: TEST_NATS_URL, ...testNatsLogin('transaction-service') });
  const created = await requestJson<{ user_id: string }>(`${h.url}/users`, { body: { email } });
  assert.equal(created.status, 201);
  userId = created.body.user_id;
});
after(async () => {
  await tx?.stop();
  await nats.close();
  await h.stop();
});

const balanceByQuery = (value: string) => requestJson(`${h.url}/balance?email=${encodeURIComponent(value)}`);

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await work();
  return { result, ms: performance.now() - started };
}

describe('GET /balance: input', () => {
  test('an unknown email is 404 user_not_found, in the query and in the body form', async () => {
    assertProblem(await balanceByQuery('nobody@example.com'), 404, 'user_not_found');
    assertProblem(await getWithJsonBody(`${h.url}/balance`, { email: 'nobody@example.com' }), 404, 'user_not_found');
  });

  test('a missing or invalid email is 400 validation_failed', async () => {
    assertProblem(await requestJson(`${h.url}/balance`), 400, 'validation_failed');
    assertProblem(await balanceByQuery('not-an-email'), 400, 'validation_failed');
    assertProblem(await getWithJsonBody(`${h.url}/balance`, { email: 12 }), 400, 'validation_failed');
    assertProblem(await requestJson(`${h.url}/balance?email=a@b.co&email=c@d.co`), 400, 'validation_failed');
    assertProblem(
      await getWithJsonBody(`${h.url}/balance?email=${encodeURIComponent(email)}`, { email: 'other@example.com' }),
      400,
      'validation_failed',
    );
  });
});

/** A responder in transaction-service's queue group that takes every request and never answers. */
async function silentResponder() {
  const subscription = nats.subscribe(h.env.BALANCE_SUBJECT!, { queue: BALANCE_QUEUE_GROUP });
  const silent = { received: 0, unsubscribe: () => subscription.unsubscribe() };
  void (async () => {
    for await (const _ of subscription) silent.received += 1;
  })();
  await nats.flush();
  return silent;
}

describe('GET /balance: transaction-service unreachable', () => {
  test('no responder on the subject: 503 balance_unavailable at once', async () => {
    const { result, ms } = await timed(() => balanceByQuery(email));
    assertProblem(result, 503, 'balance_unavailable');
    assert.ok(ms < 1_000, `took ${ms} ms`);
  });

  test('a responder that never answers: 504 balance_timeout after BALANCE_TIMEOUT_MS', async () => {
    const silent = await silentResponder();
    try {
      const { result, ms } = await timed(() => getWithJsonBody(`${h.url}/balance`, { email }));
      assertProblem(result, 504, 'balance_timeout');
      assert.ok(ms >= BALANCE_TIMEOUT_MS - 50 && ms < BALANCE_TIMEOUT_MS + 1_000, `took ${ms} ms`);
      assert.equal(silent.received, 1, 'the request reached the subscriber');
    } finally {
      silent.unsubscribe();
    }
  });

  test('transaction-service answers busy (its budget is full): 503 balance_unavailable with Retry-After', async () => {
    // In the responders' queue group: the only way transaction-service's login may subscribe.
    const busy = nats.subscribe(h.env.BALANCE_SUBJECT!, {
      queue: BALANCE_QUEUE_GROUP,
      // Naming the user asked about, as every reply must (one that does not is discarded).
      callback: (_error, msg) => msg.respond(JSON.stringify({ ok: false, error: 'busy', user_id: msg.json<{ user_id: string }>().user_id })),
    });
    await nats.flush();
    try {
      const result = await balanceByQuery(email);
      assertProblem(result, 503, 'balance_unavailable');
      assert.equal(result.headers.get('retry-after'), '1');
      assert.match(String((result.body as { detail?: unknown }).detail), /busy/);
    } finally {
      busy.unsubscribe();
    }
  });

  test('at BALANCE_MAX_OUTSTANDING requests waiting, one more is 503 at once, not queued', async () => {
    const silent = await silentResponder();
    const bounded = await startUserServiceHarness(
      { BALANCE_SUBJECT: h.env.BALANCE_SUBJECT!, BALANCE_TIMEOUT_MS: '3000', BALANCE_MAX_OUTSTANDING: '2' },
      { database: h.database },
    );
    try {
      const waiting = [0, 1].map(() => requestJson(`${bounded.url}/balance?email=${encodeURIComponent(email)}`));
      await waitFor(() => Promise.resolve(silent.received >= 2 ? true : undefined), { what: 'two requests to be outstanding' });
      const refused = await requestJson(`${bounded.url}/balance?email=${encodeURIComponent(email)}`);
      assertProblem(refused, 503, 'balance_unavailable');
      assert.equal(refused.headers.get('retry-after'), '1');
      assert.equal(silent.received, 2, 'the third request was never sent');
      for (const response of await Promise.all(waiting)) assertProblem(response, 504, 'balance_timeout');
      assert.equal(await scrapeMetric(bounded.url, 'balance_request_failures_total', { reason: 'overloaded' }), 1);
    } finally {
      silent.unsubscribe();
      await bounded.stop();
    }
  });

  test('NATS connection lost: 503 balance_unavailable immediately (never a hang), readyz 503', async () => {
    let proxy: TcpProxy | undefined;
    let second: UserServiceHarness | undefined;
    // A responder that answers, so only a detected disconnection can explain a 503 below.
    const responder = nats.subscribe(h.env.BALANCE_SUBJECT!, {
      queue: BALANCE_QUEUE_GROUP,
      callback: (_error, msg) => msg.respond(JSON.stringify({ ok: true, user_id: userId, balance: '1.00' })),
    });
    await nats.flush();
    try {
      proxy = await startTcpProxy(Number(new URL(TEST_NATS_URL.split(',')[0]!).port || 4222));
      second = await startUserServiceHarness(
        { NATS_URL: `nats://127.0.0.1:${proxy.port}`, BALANCE_SUBJECT: h.env.BALANCE_SUBJECT!, BALANCE_TIMEOUT_MS: '5000' },
        { database: h.database },
      );
      assert.equal((await requestJson(`${second.url}/readyz`)).status, 200);
      const before = await requestJson(`${second.url}/balance?email=${encodeURIComponent(email)}`);
      assert.deepEqual(before.body, { email, balance: '1.00', available_balance: '1.00' });
      await proxy.cut();
      const instance = second;
      await waitFor(async () => ((await requestJson(`${instance.url}/readyz`)).status === 503 ? true : undefined), {
        timeoutMs: 5_000,
        what: 'readyz to report NATS down',
      });
      const { result, ms } = await timed(() => requestJson(`${instance.url}/balance?email=${encodeURIComponent(email)}`));
      assertProblem(result, 503, 'balance_unavailable');
      assert.ok(ms < 500, `took ${ms} ms`);
    } finally {
      responder.unsubscribe();
      await second?.stop();
      await proxy?.cut().catch(() => undefined);
    }
  });

  test('failures are counted by reason', async () => {
    // Its own failures, counted from before to after: it passes alone and after any other test.
    const counts = async () => {
      const text = await scrapeMetrics(h.url);
      return {
        noResponders: metricValue(text, 'balance_request_failures_total', { reason: 'no_responders' }) ?? 0,
        timeouts: metricValue(text, 'balance_request_failures_total', { reason: 'timeout' }) ?? 0,
        timedOutDurations: metricValue(text, 'balance_request_duration_seconds_count', { outcome: 'timeout' }) ?? 0,
      };
    };
    const before = await counts();
    assertProblem(await balanceByQuery(email), 503, 'balance_unavailable');
    const silent = await silentResponder();
    try {
      assertProblem(await balanceByQuery(email), 504, 'balance_timeout');
    } finally {
      silent.unsubscribe();
    }
    const after = await counts();
    assert.deepEqual(
      { noResponders: after.noResponders - before.noResponders, timeouts: after.timeouts - before.timeouts, timedOutDurations: after.timedOutDurations - before.timedOutDurations },
      { noResponders: 1, timeouts: 1, timedOutDurations: 1 },
    );
  });
});

describe('GET /balance: with the real transaction-service answering', () => {
  before(async () => {
    tx = await startTransactionServiceHarness({ BALANCE_SUBJECT: h.env.BALANCE_SUBJECT! });
  });

  test('a user that has not reached transaction-service yet has a balance of "0.00"', async () => {
    const response = await balanceByQuery(email);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(response.body, { email, balance: '0.00', available_balance: '0.00' });
  });

  test('an email unknown a moment ago is found once its user exists (a miss is never remembered)', async () => {
    const later = 'created.later@example.com';
    assertProblem(await balanceByQuery(later), 404, 'user_not_found');
    assert.equal((await requestJson(`${h.url}/users`, { body: { email: later } })).status, 201);
    const found = await balanceByQuery(later);
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.deepEqual(found.body, { email: later, balance: '0.00', available_balance: '0.00' });
  });

  test('the balance is the one transaction-service holds, in both request forms', async () => {
    await tx!.db('users').insert({ user_id: userId, created_at: new Date() });
    const funded = await requestJson(`${tx!.url}/add-money`, { body: { user_id: userId, amount: '12.34' } });
    assert.equal(funded.status, 200, JSON.stringify(funded.body));
    const byQuery = await balanceByQuery(`  ${email.toUpperCase()} `);
    assert.equal(byQuery.status, 200, JSON.stringify(byQuery.body));
    assert.deepEqual(byQuery.body, { email, balance: '12.34', available_balance: '12.34' });
    const byBody = await getWithJsonBody(`${h.url}/balance`, { email });
    assert.equal(byBody.status, 200, JSON.stringify(byBody.body));
    assert.match(byBody.contentType, /^application\/json/);
    assert.deepEqual(byBody.body, { email, balance: '12.34', available_balance: '12.34' });
  });
});
