/**
 * A flood on the balance subject against a real transaction-service process with a 256 MB heap
 * (the compiled entry point, as in production): it must survive, keep moving money, keep its Kafka
 * group membership and /healthz, and keep its memory bounded. Nothing here asserts a duration.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { connect, createInbox, type NatsConnection } from 'nats';
import { v7 as uuidv7 } from 'uuid';
import { createKnex, natsInboxPrefix, type Knex } from '@wallet/platform';
import { createTestDatabase, findFreePort, requestJson, scrapeMetric, serviceCredentialsEnv, setupTestPipeline, type SpawnedProcess, spawnNode, teardownTestPipeline, TEST_NATS_URL, type TestDatabase, testKafka, testNatsLogin, uniqueName, waitFor, waitForHttp } from '@wallet/platform/testkit';

const FLOOD_REQUESTS = 12_000;
const FLOOD_NO_REPLY = 4_000;
const FLOOD_GARBAGE = 4_000;
/** Generous: the process runs with --max-old-space-size=256; BENCHMARKS.md has the real figures. */
const RSS_BOUND_MB = 350;

const entry = join(__dirname, '..', 'src', 'entry-points', 'main.js');
let database: TestDatabase;
let service: SpawnedProcess;
let url: string;
let nats: NatsConnection;
let db: Knex;
const env: Record<string, string> = {};

before(async () => {
  database = await createTestDatabase('txflood');
  const port = await findFreePort();
  Object.assign(env, {
    PORT: String(port),
    OPERATOR_PORT: String(await findFreePort()),
    // As deployed: the service with its own login, the migrations as the owner.
    DATABASE_URL: await database.urlAs('transaction_service'),
    MIGRATION_DATABASE_URL: database.url,
    // Its own broker credentials, as run.sh and compose give them.
    ...serviceCredentialsEnv('transaction-service'),
    BALANCE_SUBJECT: uniqueName('wallet.balance.test_flood'),
    KAFKA_TOPIC_USER_CREATED: uniqueName('test-flood-user-created'),
    KAFKA_TOPIC_PARTITIONS: '1',
    KAFKA_CONSUMER_GROUP: uniqueName('test-flood'),
    LOG_LEVEL: 'warn',
  });
  url = `http://127.0.0.1:${port}`;
  // As `make infra` does: the admin creates the topic and grants the service's ACLs.
  await setupTestPipeline({ topic: env.KAFKA_TOPIC_USER_CREATED!, partitions: 1, group: env.KAFKA_CONSUMER_GROUP! });
  service = spawnNode(entry, env, ['--max-old-space-size=256']);
  await waitForHttp(`${url}/healthz`, 60_000, service);
  // Ready = PostgreSQL, NATS, Kafka reachable and the consumer a member of its group.
  await waitFor(async () => ((await requestJson(`${url}/readyz`)).status === 200 ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 200,
    what: 'readyz',
  });
  // The flood comes from a peer holding user-service's credentials: a buggy client, not an outsider.
  nats = await connect({ servers: TEST_NATS_URL, ...testNatsLogin('user-service') });
  db = createKnex({ url: database.url, poolMax: 2, applicationName: 'flood-test' });
});
after(async () => {
  await nats?.close();
  await service?.stop();
  await db?.destroy();
  await database?.drop();
  await teardownTestPipeline({ topic: env.KAFKA_TOPIC_USER_CREATED!, group: env.KAFKA_CONSUMER_GROUP! });
});

function rssMb(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

test(`a flood of ${FLOOD_REQUESTS + FLOOD_NO_REPLY + FLOOD_GARBAGE} balance messages: the service survives, money moves, memory stays under ${RSS_BOUND_MB} MB`, async () => {
  const users = Array.from({ length: 20 }, () => uuidv7());
  await db('users').insert(users.map((user_id) => ({ user_id, created_at: new Date() })));

  const replies = { ok: 0, user_not_found: 0, busy: 0, invalid_request: 0, other: 0 };
  let replied = 0;
  const inbox = createInbox(natsInboxPrefix('user-service'));
  nats.subscribe(`${inbox}.>`, {
    callback: (_error, msg) => {
      replied += 1;
      const reply = JSON.parse(Buffer.from(msg.data).toString('utf8')) as { ok: boolean; error?: string };
      const kind = reply.ok ? 'ok' : (reply.error ?? 'other');
      if (kind in replies) replies[kind as keyof typeof replies] += 1;
      else replies.other += 1;
    },
  });
  await nats.flush();

  const pid = service.child.pid!;
  let maxRss = rssMb(pid);
  let flooding = true;
  const sampler = setInterval(() => {
    maxRss = Math.max(maxRss, rssMb(pid));
  }, 50);

  // Money operations and health checks all through the flood: each must succeed.
  const moneyStatuses: number[] = [];
  const healthStatuses: number[] = [];
  const addMoney = async (worker: number): Promise<void> => {
    for (let i = 0; flooding || i === 0; i += 1) {
      const response = await requestJson(`${url}/add-money`, {
        body: { user_id: users[worker % users.length], amount: '1.00' },
        headers: { 'Idempotency-Key': randomUUID() },
      });
      moneyStatuses.push(response.status);
    }
  };
  const health = async (): Promise<void> => {
    while (flooding) {
      healthStatuses.push((await requestJson<unknown>(`${url}/healthz`)).status);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const background = [...Array.from({ length: 4 }, (_, w) => addMoney(w)), health()];

  const subject = env.BALANCE_SUBJECT!;
  const withReply = FLOOD_REQUESTS + FLOOD_GARBAGE;
  for (let i = 0; i < FLOOD_REQUESTS + FLOOD_NO_REPLY + FLOOD_GARBAGE; i += 1) {
    const kind = i % 5;
    if (kind === 0) nats.publish(subject, Buffer.from(JSON.stringify({ user_id: users[i % users.length] })));
    else if (kind === 1) nats.publish(subject, Buffer.from(`garbage ${i}`), { reply: `${inbox}.${i}` });
    else nats.publish(subject, Buffer.from(JSON.stringify({ user_id: i % 7 === 0 ? uuidv7() : users[i % users.length] })), { reply: `${inbox}.${i}` });
  }
  await nats.flush();
  try {
    await waitFor(() => Promise.resolve(replied >= withReply ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 100,
      what: `${withReply} replies (got ${replied})`,
    });
  } finally {
    flooding = false;
    await Promise.all(background);
    clearInterval(sampler);
  }

  const summary = JSON.stringify({ replies, maxRssMb: Math.round(maxRss), addMoney: moneyStatuses.length });
  assert.equal(service.child.exitCode, null, `the service exited:\n${service.output()}`);
  assert.equal(replied, withReply, summary);
  assert.equal(replies.invalid_request, FLOOD_GARBAGE, summary);
  assert.equal(replies.ok + replies.user_not_found + replies.busy, FLOOD_REQUESTS, summary);
  assert.equal(replies.other, 0, summary);
  assert.ok(moneyStatuses.length >= 4 && moneyStatuses.every((s) => s === 200), `add-money during the flood: ${summary} ${JSON.stringify(moneyStatuses.filter((s) => s !== 200))}`);
  assert.ok(healthStatuses.every((s) => s === 200), JSON.stringify(healthStatuses));
  assert.ok(maxRss < RSS_BOUND_MB, summary);

  assert.equal(await scrapeMetric(url, 'nats_balance_requests_dropped_total', { reason: 'no_reply' }), FLOOD_NO_REPLY);

  // Still a member of its Kafka group, and the money is exact.
  assert.equal((await requestJson(`${url}/readyz`)).status, 200);
  const admin = testKafka('flood-test', 'admin').admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([env.KAFKA_CONSUMER_GROUP!]);
    assert.equal(groups[0]?.members.length, 1, JSON.stringify(groups[0]?.state));
  } finally {
    await admin.disconnect();
  }
  const total = (await db('users').sum<{ sum: string }[]>('balance_minor as sum'))[0]?.sum;
  assert.equal(BigInt(total ?? 0), BigInt(moneyStatuses.length) * 100n);
  process.stderr.write(`flood: ${summary}\n`);
});
