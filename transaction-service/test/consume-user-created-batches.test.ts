/**
 * The batch consumer against the real Kafka and PostgreSQL: chunks with duplicates and poison in
 * the middle, a connection lost mid-batch, a rebalance mid-batch, two consumers sharing the
 * partitions. Every test ends with every user exactly once. The consumers run in-process (no HTTP
 * service) on a migrated database of their own, each test on its own topic and group.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Partitioners, type Admin, type Kafka, type Producer } from 'kafkajs';
import { v7 as uuidv7 } from 'uuid';
import { createKnex, createLogger, createMetricsRegistry, ensureTopics, migrateExclusively, type Knex, type MetricsRegistry } from '@wallet/platform';
import { createTestDatabase, deleteTestTopic, installTestTrigger, metricValue as readMetric, type TestDatabase, testKafka, uniqueName, waitFor } from '@wallet/platform/testkit';
import { migrations, MIGRATION_LOCK_KEY } from '../src/data-access/migrations/001-create-wallet-schema';
import { startUserCreatedConsumer, type RunningConsumer } from '../src/entry-points/kafka/consume-user-created';

const logger = createLogger({ service: 'batch-consumer-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
let database: TestDatabase;
let knex: Knex;
let kafka: Kafka;
let producer: Producer;
let admin: Admin;
const topics: string[] = [];
const running: RunningConsumer[] = [];

before(async () => {
  database = await createTestDatabase('txbatch');
  knex = createKnex({ url: database.url, poolMax: 6, applicationName: 'batch-consumer-test' });
  await migrateExclusively(knex, database.url, migrations, MIGRATION_LOCK_KEY);
  // The batching logic under test, not the permissions (broker-permissions.test.ts has those): one
  // admin client produces, creates topics and consumes.
  kafka = testKafka('batch-consumer-test', 'admin');
  producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  admin = kafka.admin();
  await admin.connect();
});
after(async () => {
  await Promise.allSettled(running.map((c) => c.stop()));
  await producer.disconnect();
  await admin.disconnect();
  await knex.destroy();
  await database.drop();
  for (const topic of topics) await deleteTestTopic(topic);
});

interface Message {
  key: string;
  value: string | null;
  headers: Record<string, string>;
}

function userCreated(userId = uuidv7(), eventId = uuidv7()): Message & { userId: string; eventId: string } {
  const value = JSON.stringify({ user_id: userId, email: `${userId.slice(-8)}@example.com`, created_at: new Date().toISOString() });
  return { key: userId, value, headers: { 'event-id': eventId, 'event-type': 'user-created' }, userId, eventId };
}

async function newTopic(partitions: number): Promise<string> {
  const topic = uniqueName('test-batches');
  topics.push(topic);
  await ensureTopics(kafka, [{ topic, numPartitions: partitions }]);
  return topic;
}

/** One produce call: the consumer then finds them all in its first fetch, as one batch per partition. */
async function produce(topic: string, messages: Message[]): Promise<void> {
  await producer.send({ topic, acks: -1, messages });
}

async function startConsumer(topic: string, groupId: string, chunkSize: number): Promise<{ consumer: RunningConsumer; metrics: MetricsRegistry }> {
  const metrics = createMetricsRegistry('batch-consumer-test');
  const consumer = await startUserCreatedConsumer({
    kafka,
    knex,
    logger,
    metrics,
    topic,
    topicPartitions: 1,
    groupId,
    chunkSize,
    partitionsConsumedConcurrently: 2,
    maxBackoffMs: 500,
  });
  running.push(consumer);
  return { consumer, metrics };
}

async function stopConsumer(consumer: RunningConsumer): Promise<void> {
  await consumer.stop();
  running.splice(running.indexOf(consumer), 1);
}

/** A counter of the consumer's own registry, read through the test kit's one Prometheus reader (0 when never counted). */
async function metricValue(metrics: MetricsRegistry, name: string, labels: Record<string, string> = {}): Promise<number> {
  return readMetric(await metrics.metrics(), name, labels) ?? 0;
}

/** The group has committed every partition up to its end: everything produced was applied. */
async function waitUntilCommittedToEnd(topic: string, groupId: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    async () => {
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const latest = await admin.fetchTopicOffsets(topic);
      const done = latest.every((l) => committed?.partitions.find((p) => p.partition === l.partition)?.offset === l.high);
      return done ? true : undefined;
    },
    { timeoutMs, intervalMs: 200, what: `group ${groupId} to commit ${topic} to its end` },
  );
}

async function usersAmong(userIds: string[]): Promise<Map<string, number>> {
  const rows = await knex<{ user_id: string }>('users').whereIn('user_id', userIds).select('user_id');
  const counts = new Map<string, number>();
  for (const row of rows) counts.set(row.user_id, (counts.get(row.user_id) ?? 0) + 1);
  return counts;
}

async function assertEachExactlyOnce(userIds: string[]): Promise<void> {
  const counts = await usersAmong(userIds);
  const missing = userIds.filter((id) => counts.get(id) !== 1);
  assert.deepEqual(missing, [], `${missing.length} of ${userIds.length} users not there exactly once`);
  const events = Number(
    (await knex('processed_events').count<{ count: string }[]>('* as count'))[0]?.count,
  );
  assert.ok(events >= userIds.length);
}

const deadLettersOf = async (topic: string): Promise<Array<{ kafka_partition: number; kafka_offset: string; reason: string }>> =>
  knex('dead_letters').where({ topic }).orderBy(['kafka_partition', 'kafka_offset']).select('kafka_partition', 'kafka_offset', 'reason');

describe('batch consumer', () => {
  test('duplicates and poison in the middle of a batch: only the poison is dead-lettered, every user once', async () => {
    const topic = await newTopic(1);
    const groupId = uniqueName('test-batches');
    // The database refuses one user outright (an integrity error, as a permanent fault would be):
    // its whole chunk fails, is applied one message at a time, and only that message is dead-lettered.
    const refused = userCreated();
    const removeTrigger = await installTestTrigger(knex, {
      name: 'refuse_test_user',
      on: 'BEFORE INSERT ON users FOR EACH ROW',
      body: `IF NEW.user_id = '${refused.userId}' THEN
               RAISE EXCEPTION 'test: this user is refused' USING ERRCODE = 'check_violation';
             END IF;
             RETURN NEW;`,
    });
    try {
      const good = Array.from({ length: 240 }, () => userCreated());
      const messages: Message[] = [];
      const poisonAt = new Set<number>();
      good.forEach((m, i) => {
        messages.push(m);
        // The same event again, next to the original and far from it.
        if (i % 10 === 3) messages.push({ ...m });
        if (i === 50) {
          poisonAt.add(messages.length);
          messages.push({ key: 'poison', value: '{"user_id": "not json', headers: { 'event-id': uuidv7() } });
        }
        if (i === 120) {
          poisonAt.add(messages.length);
          messages.push(refused);
        }
        if (i === 121) {
          poisonAt.add(messages.length);
          messages.push({ key: 'poison', value: JSON.stringify({ email: 'x@example.com' }), headers: { 'event-id': uuidv7() } });
        }
      });
      messages.push(...good.slice(0, 30).map((m) => ({ ...m })));
      await produce(topic, messages);

      const { consumer, metrics } = await startConsumer(topic, groupId, 64);
      await waitUntilCommittedToEnd(topic, groupId);
      await stopConsumer(consumer);

      await assertEachExactlyOnce(good.map((m) => m.userId));
      assert.equal((await usersAmong([refused.userId])).size, 0);
      const letters = await deadLettersOf(topic);
      assert.deepEqual(
        letters.map((l) => Number(l.kafka_offset)),
        [...poisonAt].sort((a, b) => a - b),
      );
      assert.match(letters[1]!.reason, /database refused the event.*refused/);
      assert.equal(await metricValue(metrics, 'user_created_events_consumed_total', { outcome: 'registered' }), good.length);
      assert.equal(await metricValue(metrics, 'user_created_events_consumed_total', { outcome: 'dead_lettered' }), 3);
      // The refused chunk alone went one by one; the others were one transaction each.
      assert.equal(await metricValue(metrics, 'user_created_chunks_total', { mode: 'one_by_one' }), 1);
      assert.ok((await metricValue(metrics, 'user_created_chunks_total', { mode: 'batch' })) >= 3);
    } finally {
      await removeTrigger();
    }
  });

  test('a connection lost in the middle of a batch: the chunk is retried, nothing dead-lettered, every user once', async () => {
    const topic = await newTopic(1);
    const groupId = uniqueName('test-batches');
    const sent = Array.from({ length: 300 }, () => userCreated());
    const victim = sent[170]!;
    // The chunk holding this user kills its own database connection, twice (a sequence is not
    // rolled back with the transaction); the third attempt goes through.
    const removeTrigger = await installTestTrigger(knex, {
      name: 'kill_test_connection',
      on: 'BEFORE INSERT ON users FOR EACH ROW',
      counter: true,
      body: `IF NEW.user_id = '${victim.userId}' AND nextval('kill_test_connection_calls') <= 2 THEN
               PERFORM pg_terminate_backend(pg_backend_pid());
             END IF;
             RETURN NEW;`,
    });
    try {
      await produce(topic, sent);
      const { consumer, metrics } = await startConsumer(topic, groupId, 50);
      await waitUntilCommittedToEnd(topic, groupId);
      await stopConsumer(consumer);

      await assertEachExactlyOnce(sent.map((m) => m.userId));
      assert.deepEqual(await deadLettersOf(topic), []);
      assert.equal(Number((await knex.raw<{ rows: Array<{ last_value: string }> }>('SELECT last_value FROM kill_test_connection_calls')).rows[0]?.last_value), 3);
      assert.ok((await metricValue(metrics, 'user_created_chunk_retries_total')) >= 2);
      assert.equal(await metricValue(metrics, 'user_created_events_consumed_total', { outcome: 'registered' }), sent.length);
    } finally {
      await removeTrigger();
    }
  });

  test('a rebalance in the middle of a batch: every user once, nothing dead-lettered', async () => {
    const topic = await newTopic(2);
    const groupId = uniqueName('test-batches');
    // Each chunk takes a while, so the first consumer is still inside its batch when the second joins.
    const removeTrigger = await installTestTrigger(knex, {
      name: 'slow_test_chunk',
      on: 'AFTER INSERT ON users FOR EACH STATEMENT',
      body: 'PERFORM pg_sleep(0.1); RETURN NULL;',
    });
    try {
      const sent = Array.from({ length: 600 }, () => userCreated());
      await produce(topic, sent);
      const ids = sent.map((m) => m.userId);
      const first = await startConsumer(topic, groupId, 10);
      // Wait until the first consumer is part-way: some users are in, most are not.
      const partWay = await waitFor(
        async () => {
          const n = (await usersAmong(ids)).size;
          return n > 0 ? n : undefined;
        },
        { timeoutMs: 30_000, what: 'the first chunk' },
      );
      const second = await startConsumer(topic, groupId, 10);
      const atJoin = (await usersAmong(ids)).size;
      assert.ok(partWay < sent.length && atJoin < sent.length, `the second consumer must join mid-batch (${atJoin} of ${sent.length} in)`);

      await waitUntilCommittedToEnd(topic, groupId, 90_000);
      const group = await admin.describeGroups([groupId]);
      await stopConsumer(first.consumer);
      await stopConsumer(second.consumer);

      assert.equal(group.groups[0]?.members.length, 2);
      await assertEachExactlyOnce(ids);
      assert.deepEqual(await deadLettersOf(topic), []);
      const registered =
        (await metricValue(first.metrics, 'user_created_events_consumed_total', { outcome: 'registered' })) +
        (await metricValue(second.metrics, 'user_created_events_consumed_total', { outcome: 'registered' }));
      assert.equal(registered, sent.length);
    } finally {
      await removeTrigger();
    }
  });

  test('two consumers share the partitions: each user arrives exactly once, both do some of the work', async () => {
    const topic = await newTopic(4);
    const groupId = uniqueName('test-batches');
    const a = await startConsumer(topic, groupId, 100);
    const b = await startConsumer(topic, groupId, 100);
    // Both members hold partitions before anything is produced, so neither can take everything.
    await waitFor(
      async () => {
        const { groups } = await admin.describeGroups([groupId]);
        const group = groups[0];
        return group?.state === 'Stable' && group.members.length === 2 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'a stable group of two' },
    );
    const sent = Array.from({ length: 1_000 }, () => userCreated());
    // Keyed by user id, a replayed event lands on its original's partition: both must be absorbed.
    await produce(topic, [...sent, ...sent.slice(0, 100).map((m) => ({ ...m }))]);
    await waitUntilCommittedToEnd(topic, groupId);
    await stopConsumer(a.consumer);
    await stopConsumer(b.consumer);

    await assertEachExactlyOnce(sent.map((m) => m.userId));
    const byA = await metricValue(a.metrics, 'user_created_events_consumed_total', { outcome: 'registered' });
    const byB = await metricValue(b.metrics, 'user_created_events_consumed_total', { outcome: 'registered' });
    assert.equal(byA + byB, sent.length);
    assert.ok(byA > 0 && byB > 0, `both consumers registered users: ${byA} / ${byB}`);
    const duplicates =
      (await metricValue(a.metrics, 'user_created_events_consumed_total', { outcome: 'duplicate' })) +
      (await metricValue(b.metrics, 'user_created_events_consumed_total', { outcome: 'duplicate' }));
    assert.equal(duplicates, 100);
  });
});
