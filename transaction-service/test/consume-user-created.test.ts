import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import { v7 as uuidv7 } from 'uuid';
import { createKnex, createLogger, createMetricsRegistry, createKafka } from '@wallet/platform';
import { deleteTestTopic, requestJson, scrapeMetric, startTransactionServiceHarness, testKafka, type TransactionServiceHarness, uniqueName, waitFor } from '@wallet/platform/testkit';
import { headersToStrings, startUserCreatedConsumer } from '../src/entry-points/kafka/consume-user-created';

let h: TransactionServiceHarness;
let producer: Producer;
let kafka: Kafka;
let topic: string;

before(async () => {
  h = await startTransactionServiceHarness();
  topic = h.env.KAFKA_TOPIC_USER_CREATED!;
  // Writes as the relay does (its login and ACLs): only outbox-relay may produce to the topic.
  kafka = testKafka('consumer-test', 'outbox-relay');
  producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  // The service creates the topic in the background; wait for it before producing.
  const admin = kafka.admin();
  await admin.connect();
  await waitFor(async () => ((await admin.listTopics()).includes(topic) ? true : undefined), { what: 'the topic' });
  await admin.disconnect();
});
after(async () => {
  await producer.disconnect();
  await h.stop();
  await deleteTestTopic(topic);
});

interface Sent {
  userId: string;
  eventId: string;
}

async function sendRaw(value: string | Buffer | null, headers: Record<string, string>, key: string = randomUUID()): Promise<void> {
  await producer.send({ topic, acks: -1, messages: [{ key, value, headers }] });
}

async function sendUserCreated(overrides: Partial<Sent> = {}): Promise<Sent> {
  const sent = { userId: overrides.userId ?? uuidv7(), eventId: overrides.eventId ?? uuidv7() };
  const payload = { user_id: sent.userId, email: `${sent.userId.slice(-8)}@example.com`, created_at: new Date().toISOString() };
  await sendRaw(JSON.stringify(payload), { 'event-id': sent.eventId, 'event-type': 'user-created' }, sent.userId);
  return sent;
}

const count = async (table: string, where: Record<string, unknown> = {}): Promise<number> =>
  Number((await h.db(table).where(where).count<{ count: string }[]>('* as count'))[0]?.count);

const waitForUser = (userId: string, timeoutMs = 15_000) =>
  waitFor(async () => ((await count('users', { user_id: userId })) === 1 ? true : undefined), {
    timeoutMs,
    what: `user ${userId} in transaction-service`,
  });

async function consumedMetric(outcome: string): Promise<number> {
  return (await scrapeMetric(h.url, 'user_created_events_consumed_total', { outcome })) ?? 0;
}

describe('user-created consumer', () => {
  test('registers the user with a zero balance', async () => {
    const { userId, eventId } = await sendUserCreated();
    await waitForUser(userId);
    const balance = await requestJson(`${h.url}/users/${userId}/balance`);
    assert.equal(balance.status, 200);
    assert.deepEqual(balance.body, { user_id: userId, balance: '0.00', available_balance: '0.00' });
    assert.equal(await count('processed_events', { event_id: eventId, event_type: 'user-created' }), 1);
  });

  test('the same event delivered twice is applied once', async () => {
    const duplicatesBefore = await consumedMetric('duplicate');
    const first = await sendUserCreated();
    await sendUserCreated(first);
    // A different event for the same user (say a second outbox row) must not fail or duplicate.
    await sendUserCreated({ userId: first.userId });
    await waitFor(async () => ((await consumedMetric('duplicate')) >= duplicatesBefore + 2 ? true : undefined), {
      what: 'both duplicates to be consumed',
    });
    assert.equal(await count('users', { user_id: first.userId }), 1);
    assert.equal(await count('processed_events', { event_id: first.eventId }), 1);
  });

  test('poison messages are dead-lettered with a reason and do not block the messages after them', async () => {
    const goodBefore = await sendUserCreated();
    const valid = (userId = uuidv7()) => JSON.stringify({ user_id: userId, email: 'p@example.com', created_at: new Date().toISOString() });
    const nulTypeValue = valid();
    const poison: Array<{ value: string | Buffer | null; headers: Record<string, string>; reason: RegExp; stored?: string }> = [
      {
        value: Buffer.from([0x00, 0xff, 0x7b, 0x00]),
        headers: { 'event-id': uuidv7(), 'x-binary': 'a\u0000b' },
        reason: /not valid JSON/,
        stored: '\\u0000\ufffd{\\u0000',
      },
      { value: '{"user_id": "not json', headers: { 'event-id': uuidv7() }, reason: /not valid JSON/ },
      { value: JSON.stringify({ email: 'x@example.com' }), headers: { 'event-id': uuidv7() }, reason: /schema.*user_id/ },
      {
        value: JSON.stringify({ user_id: uuidv7(), email: 'not-an-email', created_at: 'yesterday' }),
        headers: { 'event-id': uuidv7() },
        reason: /schema/,
      },
      { value: JSON.stringify([1, 2, 3]), headers: { 'event-id': uuidv7() }, reason: /schema/ },
      { value: valid(), headers: {}, reason: /missing event-id/ },
      { value: valid(), headers: { 'event-id': 'not-a-uuid' }, reason: /invalid event-id/ },
      { value: valid(), headers: { 'event-id': uuidv7(), 'event-type': 'user-deleted' }, reason: /unexpected event type/ },
      { value: null, headers: { 'event-id': uuidv7() }, reason: /empty/ },
      // The reason quotes the type: a NUL in it must not make the dead letter itself unstorable
      // (that failure looked transient and retried the message for ever).
      { value: nulTypeValue, headers: { 'event-id': uuidv7(), 'event-type': 'user-created\u0000' }, reason: /unexpected event type user-created\\u0000/, stored: nulTypeValue },
      // A UUID PostgreSQL would take but not in its canonical form is a schema violation.
      {
        value: JSON.stringify({ user_id: `{${uuidv7()}}`, email: 'b@example.com', created_at: new Date().toISOString() }),
        headers: { 'event-id': uuidv7() },
        reason: /schema.*user_id/,
      },
    ];
    const deadBefore = await count('dead_letters');
    await waitForUser(goodBefore.userId);
    for (const p of poison) await sendRaw(p.value, p.headers);
    const goodAfter = await sendUserCreated();
    await waitForUser(goodAfter.userId);

    const letters = await h.db('dead_letters').orderBy('kafka_offset').offset(deadBefore);
    assert.equal(letters.length, poison.length, JSON.stringify(letters.map((l: { reason: string }) => l.reason)));
    letters.forEach((letter: { topic: string; reason: string; message_value: string | null; headers: Record<string, string> }, i) => {
      assert.equal(letter.topic, topic);
      assert.match(letter.reason, poison[i]!.reason);
      const sent = poison[i]!;
      assert.equal(letter.message_value, sent.stored ?? sent.value);
      if (sent.stored === undefined) assert.deepEqual(letter.headers, sent.headers);
    });
    assert.ok((await consumedMetric('dead_lettered')) >= poison.length);

    // Offsets are committed past everything, the poison included: a restart would not see it again.
    const admin = testKafka('consumer-test-operator', 'admin').admin(); // reads the group's offsets: an operator's view
    await admin.connect();
    try {
      await waitFor(
        async () => {
          const [committed] = await admin.fetchOffsets({ groupId: h.env.KAFKA_CONSUMER_GROUP!, topics: [topic] });
          const latest = await admin.fetchTopicOffsets(topic);
          const done = committed?.partitions.every((p) => p.offset === latest.find((l) => l.partition === p.partition)?.high);
          return done ? true : undefined;
        },
        { what: 'committed offsets to reach the end of the topic' },
      );
    } finally {
      await admin.disconnect();
    }
  });

  test('a header with a null value (length -1 on the wire) counts as absent instead of crashing', () => {
    // kafkajs cannot produce such a header, but decodes one from other producers to null, whatever
    // its types say; this is the shape it hands to eachMessage.
    const delivered = { 'event-id': Buffer.from('id-1'), traceparent: null } as unknown as Parameters<typeof headersToStrings>[0];
    assert.deepEqual(headersToStrings(delivered), { 'event-id': 'id-1' });
  });

  test('a transient database failure is retried, never dead-lettered', async () => {
    const deadBefore = await count('dead_letters');
    await h.db.raw('ALTER TABLE users RENAME TO users_away');
    let sent: Sent;
    try {
      sent = await sendUserCreated();
      // Long enough for several retries of the message.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.equal(await count('processed_events', { event_id: sent.eventId }), 0);
      assert.equal(await count('dead_letters'), deadBefore);
    } finally {
      await h.db.raw('ALTER TABLE users_away RENAME TO users');
    }
    await waitForUser(sent.userId);
    assert.equal(await count('processed_events', { event_id: sent.eventId }), 1);
    assert.equal(await count('dead_letters'), deadBefore);
  });
});

describe('user-created consumer without Kafka', () => {
  test('starts at once while Kafka is unreachable, and stops cleanly', async () => {
    const logger = createLogger({ service: 'consumer-test', level: 'silent' });
    const knex = createKnex({ url: h.database.url, poolMax: 2, applicationName: 'consumer-test' });
    try {
      const started = performance.now();
      const consumer = await startUserCreatedConsumer({
        kafka: createKafka({ clientId: 'consumer-test', brokers: ['127.0.0.1:1'], logger }),
        knex,
        logger,
        metrics: createMetricsRegistry('consumer-test'),
        topic: uniqueName('test-user-created'),
        topicPartitions: 1,
        groupId: uniqueName('test-tx'),
      });
      assert.ok(performance.now() - started < 500, 'start does not wait for Kafka');
      await new Promise((resolve) => setTimeout(resolve, 300));
      const stopping = performance.now();
      await consumer.stop();
      assert.ok(performance.now() - stopping < 15_000);
    } finally {
      await knex.destroy();
    }
  });
});
