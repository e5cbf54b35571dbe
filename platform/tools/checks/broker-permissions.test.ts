/**
 * Trust nothing on the wire: the real NATS and Kafka the stack runs on (platform/tools/infra/infra.sh,
 * the repo's nats-server.conf and Kafka's SCRAM users and ACLs) refuse anonymous clients and give
 * each service's credentials (and money-events' read-only principal) exactly its part. Every refusal is paired with the same client doing
 * what it is allowed to, so a refusal can only come from the permissions, not a broken setup.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin, type Consumer, type LogEntry, type Producer } from 'kafkajs';
import { connect, type NatsConnection, type NatsError } from 'nats';
import { BALANCE_QUEUE_GROUP, BALANCE_SUBJECT, MONEY_EVENTS_GROUP_PREFIX } from '@wallet/platform';
import {
  type KafkaUser,
  setupTestMoneyEvents,
  setupTestPipeline,
  teardownTestMoneyEvents,
  teardownTestPipeline,
  TEST_KAFKA_BROKERS,
  TEST_NATS_URL,
  testKafka,
  testKafkaSasl,
  testMoneyEventsGroup,
  testMoneyEventsReader,
  testNatsLogin,
  uniqueName,
  waitFor,
} from '@wallet/platform/testkit';

const encode = (text: string) => new TextEncoder().encode(text);

describe('NATS: no anonymous access, each service its own part', () => {
  const connections: NatsConnection[] = [];
  const open = async (login: Parameters<typeof testNatsLogin>[0]): Promise<NatsConnection> => {
    const connection = await connect({ servers: TEST_NATS_URL, ...testNatsLogin(login), maxReconnectAttempts: 0 });
    connections.push(connection);
    return connection;
  };
  // Test files run their own subject under the balance namespace; production uses BALANCE_SUBJECT.
  const subject = uniqueName('wallet.balance.test');

  after(async () => {
    await Promise.all(connections.map((c) => c.close()));
  });

  /** Subscribes and resolves with the server's refusal, or undefined if a message got through first. */
  async function subscriptionRefusal(
    connection: NatsConnection,
    target: string,
    options: { queue?: string } = {},
    publisher?: NatsConnection,
  ): Promise<string | undefined> {
    let refusal: string | undefined;
    let delivered = false;
    const subscription = connection.subscribe(target, {
      ...options,
      callback: (error) => {
        if (error) refusal = error.message;
        else delivered = true;
      },
    });
    await connection.flush().catch(() => undefined);
    // If the subscription were accepted, this message would reach it.
    if (publisher) {
      publisher.publish(target === '>' ? subject : target, encode('probe'));
      await publisher.flush();
    }
    try {
      return await waitFor(() => Promise.resolve(refusal ?? (delivered ? 'DELIVERED' : undefined)), {
        timeoutMs: 5_000,
        what: `the server's answer to a subscription on ${target}`,
      }).then((answer) => (answer === 'DELIVERED' ? undefined : answer));
    } finally {
      if (!subscription.isClosed()) subscription.unsubscribe();
    }
  }

  test('an anonymous client, or a wrong password, cannot connect', async () => {
    await assert.rejects(connect({ servers: TEST_NATS_URL, maxReconnectAttempts: 0 }), (error: NatsError) => {
      assert.equal(error.code, 'AUTHORIZATION_VIOLATION');
      return true;
    });
    await assert.rejects(
      connect({ servers: TEST_NATS_URL, user: 'user-service', pass: 'not-the-password', maxReconnectAttempts: 0 }),
      (error: NatsError) => error.code === 'AUTHORIZATION_VIOLATION',
    );
    // The same server accepts the real credentials.
    const accepted = await open('user-service');
    await accepted.flush();
  });

  test("user-service's credentials cannot subscribe to the balance subject, nor to everything", async () => {
    const users = await open('user-service');
    const publisher = await open('user-service');
    for (const target of [BALANCE_SUBJECT, subject, 'wallet.balance.>', '>']) {
      const refusal = await subscriptionRefusal(users, target, {}, publisher);
      assert.match(refusal ?? 'accepted', /Permissions Violation for Subscription/, target);
    }
    // Nor join transaction-service's queue group to steal its requests.
    const refusal = await subscriptionRefusal(users, subject, { queue: BALANCE_QUEUE_GROUP }, publisher);
    assert.match(refusal ?? 'accepted', /Permissions Violation for Subscription/);
  });

  test("user-service's credentials cannot create a JetStream stream (or publish anywhere but balance requests)", async () => {
    const users = await open('user-service');
    const config = JSON.stringify({ name: 'HIJACK', subjects: [BALANCE_SUBJECT] });
    await assert.rejects(users.request('$JS.API.STREAM.CREATE.HIJACK', encode(config), { timeout: 2_000 }), (error: NatsError) => {
      assert.equal(error.code, 'PERMISSIONS_VIOLATION', error.message);
      assert.match(error.message, /Publish to "\$JS\.API\.STREAM\.CREATE\.HIJACK"/);
      return true;
    });
    await assert.rejects(users.request('some.other.service', encode('{}'), { timeout: 2_000 }), (error: NatsError) => {
      assert.equal(error.code, 'PERMISSIONS_VIOLATION', error.message);
      return true;
    });
  });

  test('user-service asks and transaction-service answers, each within its permissions', async () => {
    const tx = await open('transaction-service');
    const users = await open('user-service');
    const responder = tx.subscribe(subject, {
      queue: BALANCE_QUEUE_GROUP,
      callback: (error, message) => {
        if (!error) message.respond(encode(`answer to ${new TextDecoder().decode(message.data)}`));
      },
    });
    await tx.flush();
    try {
      // Replies come back on user-service's own inbox prefix, the only inbox it may read.
      const reply = await users.request(subject, encode('ping'), { timeout: 2_000 });
      assert.equal(new TextDecoder().decode(reply.data), 'answer to ping');
      assert.ok(reply.subject.startsWith('_INBOX_user-service.'), reply.subject);
    } finally {
      responder.unsubscribe();
    }
    // A user-service client on the shared _INBOX prefix cannot listen to other clients' replies.
    const sniffer = await connect({ servers: TEST_NATS_URL, ...testNatsLogin('user-service'), inboxPrefix: '_INBOX' });
    connections.push(sniffer);
    const refusal = await subscriptionRefusal(sniffer, '_INBOX.>');
    assert.match(refusal ?? 'accepted', /Permissions Violation for Subscription to "_INBOX\.>"/);
  });

  test("a buggy peer holding user-service's credentials can still flood the balance subject (as the flood test does)", async () => {
    // The flood benchmark and test of the pipeline issue run as such a client: a burst of requests,
    // with and without reply subjects, is within user-service's permissions and reaches the responders.
    const tx = await open('transaction-service');
    const peer = await open('user-service');
    let received = 0;
    const responder = tx.subscribe(subject, {
      queue: BALANCE_QUEUE_GROUP,
      callback: (error, message) => {
        if (error) return;
        received += 1;
        if (message.reply) message.respond(encode('{}'));
      },
    });
    await tx.flush();
    const violations: string[] = [];
    void (async () => {
      for await (const status of peer.status()) if (status.permissionContext) violations.push(status.permissionContext.subject);
    })();
    const total = 2_000;
    for (let i = 0; i < total; i += 1) {
      peer.publish(subject, encode('{"user_id":"flood"}'), i % 2 === 0 ? { reply: `_INBOX_user-service.flood.${i}` } : undefined);
    }
    await peer.flush();
    try {
      await waitFor(() => Promise.resolve(received === total ? true : undefined), { what: `${total} flood messages at the responder` });
      assert.deepEqual(violations, []);
      assert.equal(peer.isClosed(), false);
    } finally {
      responder.unsubscribe();
    }
  });

  test("transaction-service's credentials answer only in its queue group and publish nothing but replies to user-service", async () => {
    const tx = await open('transaction-service');
    const users = await open('user-service');
    // A plain subscriber or a rogue queue group would take requests meant for the real responders.
    for (const options of [{}, { queue: 'rogue' }]) {
      const refusal = await subscriptionRefusal(tx, subject, options, users);
      assert.match(refusal ?? 'accepted', /Permissions Violation for Subscription/, JSON.stringify(options));
    }
    // It cannot forge balance requests (or publish anything) on its own; the probe is never delivered.
    const listener = await open('transaction-service');
    let received = 0;
    const queueSubscription = listener.subscribe(subject, { queue: BALANCE_QUEUE_GROUP, callback: () => (received += 1) });
    await listener.flush();
    const violations: string[] = [];
    void (async () => {
      for await (const status of tx.status()) {
        if (status.permissionContext) violations.push(`${status.permissionContext.operation} ${status.permissionContext.subject}`);
      }
    })();
    tx.publish(subject, encode('forged'));
    await tx.flush();
    await waitFor(() => Promise.resolve(violations.includes(`publish ${subject}`) ? true : undefined), {
      what: 'the publish permission violation',
    });
    // The listener is a real member of the queue group: a request user-service sends does arrive.
    users.publish(subject, encode('real'));
    await users.flush();
    await waitFor(() => Promise.resolve(received === 1 ? true : undefined), { what: "user-service's request at the listener" });
    assert.equal(received, 1, 'only the real request arrived, not the forged one');
    queueSubscription.unsubscribe();
  });

  test("transaction-service's replies go only into user-service's inbox: a request naming another reply subject gets no answer there", async () => {
    // allow_responses would let this reply through (it is additive to the publish permissions):
    // the config gives transaction-service a publish allow list of user-service's inbox instead.
    const tx = await open('transaction-service');
    const users = await open('user-service');
    const outsideListener = await open('transaction-service');
    const violations: string[] = [];
    void (async () => {
      for await (const status of tx.status()) {
        if (status.permissionContext) violations.push(`${status.permissionContext.operation} ${status.permissionContext.subject}`);
      }
    })();
    // A responder that answers every request it is given, whatever reply subject the request names.
    const responder = tx.subscribe(subject, {
      queue: BALANCE_QUEUE_GROUP,
      callback: (error, message) => {
        if (!error && message.reply) message.respond(encode('answer'));
      },
    });
    await tx.flush();
    // A subject someone else listens on (transaction-service's login may, in its queue group).
    const outside = `${subject}.outside-reply`;
    const heardOutside: string[] = [];
    outsideListener.subscribe(outside, { queue: BALANCE_QUEUE_GROUP, callback: (_error, m) => heardOutside.push(m.string()) });
    await outsideListener.flush();
    const inbox = `_INBOX_user-service.permissions.${randomUUID()}`;
    const heardInbox: string[] = [];
    users.subscribe(inbox, { callback: (_error, m) => heardInbox.push(m.string()) });
    await users.flush();
    try {
      users.publish(subject, encode('ask'), { reply: outside });
      await users.flush();
      await waitFor(() => Promise.resolve(violations.includes(`publish ${outside}`) ? true : undefined), {
        what: 'the refused reply outside the inbox',
      });
      // The same request naming a reply subject in user-service's inbox is answered there.
      users.publish(subject, encode('ask'), { reply: inbox });
      await users.flush();
      await waitFor(() => Promise.resolve(heardInbox.length > 0 ? true : undefined), { what: 'the reply in the inbox' });
      assert.deepEqual(heardInbox, ['answer']);
      // The outside listener does hear what reaches its subject: no reply did.
      users.publish(outside, encode('probe'));
      await users.flush();
      await waitFor(() => Promise.resolve(heardOutside.length > 0 ? true : undefined), { what: 'the probe outside' });
      assert.deepEqual(heardOutside, ['probe']);
      assert.deepEqual(violations, [`publish ${outside}`]);
    } finally {
      responder.unsubscribe();
    }
  });
});

/** Kafka clients a describe block opens, disconnected in its after(). */
type KafkaClients = Array<{ disconnect(): Promise<void> }>;

interface ConsumeOutcome {
  message?: string;
  error?: string;
}

/** Runs a consumer of `topic` and resolves with the first message it reads, or the error that stopped it. */
async function tryToConsume(kafka: Kafka, topic: string, groupId: string, clients: KafkaClients): Promise<ConsumeOutcome> {
  const consumer: Consumer = kafka.consumer({
    groupId,
    retry: { retries: 0, restartOnFailure: () => Promise.resolve(false) },
    // Disconnecting waits for the fetch in flight: a short long-poll keeps each read from costing 5 s.
    maxWaitTimeInMs: 250,
  });
  clients.push(consumer);
  let outcome: ConsumeOutcome | undefined;
  consumer.on(consumer.events.CRASH, (event) => {
    outcome ??= { error: `${event.payload.error.name}: ${event.payload.error.message}` };
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        outcome ??= { message: message.value?.toString() ?? '' };
        return Promise.resolve();
      },
    });
  } catch (error) {
    outcome ??= { error: String(error) };
  }
  try {
    return await waitFor(() => Promise.resolve(outcome), { timeoutMs: 30_000, what: `a message or an error for group ${groupId}` });
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}

/**
 * A client whose protocol errors are kept: kafkajs reports a group it may not use as "Failed to
 * find group coordinator" and keeps the broker's GROUP_AUTHORIZATION_FAILED in its debug log.
 */
function observedKafka(clientId: string, user: Exclude<KafkaUser, 'admin'>): { kafka: Kafka; errors: string[] } {
  const errors: string[] = [];
  const kafka = new Kafka({
    clientId,
    brokers: TEST_KAFKA_BROKERS.split(','),
    sasl: testKafkaSasl(user),
    logLevel: logLevel.DEBUG,
    logCreator:
      () =>
      ({ log }: LogEntry) => {
        const error = (log as { error?: unknown }).error;
        if (!error) return;
        const { type, message } = error as { type?: string; message?: string };
        errors.push(typeof error === 'string' ? error : `${type ?? ''} ${message ?? ''}`);
      },
  });
  return { kafka, errors };
}

const GROUP_REFUSED = /GROUP_AUTHORIZATION_FAILED|Not authorized to access group/;
const TOPIC_REFUSED = /TOPIC_AUTHORIZATION_FAILED|Not authorized to access topics/i;

/** Asserts that a consumer read nothing and that the broker's ACLs (`refusal`) stopped it. */
function assertRefused(outcome: ConsumeOutcome, errors: string[], refusal: RegExp, what: string): void {
  assert.equal(outcome.message, undefined, `${what}: read a message`);
  assert.ok(outcome.error, `${what}: the consumer stopped`);
  assert.ok(
    refusal.test(outcome.error) || errors.some((e) => refusal.test(e)),
    `${what}: refused by the broker's ACLs (${outcome.error}; ${errors.join(' | ')})`,
  );
}

/** For assert.rejects: the broker refused a request for want of a permission on the topic. */
function topicNotAuthorized(error: Error & { type?: string }): true {
  assert.match(`${error.name} ${error.type ?? ''} ${error.message}`, /TOPIC_AUTHORIZATION_FAILED|not authorized/i);
  return true;
}

/** An admin client of `kafka`, connected (and put in `clients`), that the broker does not let create a topic. */
async function adminRefusedNewTopics(kafka: Kafka, topicPrefix: string, clients: KafkaClients): Promise<Admin> {
  const admin = kafka.admin({ retry: { retries: 0 } });
  clients.push(admin);
  await admin.connect();
  await assert.rejects(
    admin.createTopics({ topics: [{ topic: uniqueName(topicPrefix) }], validateOnly: false }),
    (error: Error & { errors?: Array<{ type?: string }> }) => {
      assert.deepEqual(error.errors?.map((e) => e.type), ['TOPIC_AUTHORIZATION_FAILED'], String(error));
      return true;
    },
  );
  return admin;
}

describe('Kafka: SASL/SCRAM only, outbox-relay writes and transaction-service reads the topic', () => {
  const topic = uniqueName('test-user-created');
  const group = uniqueName('test-tx');
  const clients: KafkaClients = [];
  let relayProducer: Producer;

  before(async () => {
    // Exactly what `make infra` does for user-created, on this file's own topic and group.
    await setupTestPipeline({ topic, partitions: 1, group });
    relayProducer = testKafka('permissions-relay', 'outbox-relay').producer({ idempotent: true, maxInFlightRequests: 1 });
    await relayProducer.connect();
    clients.push(relayProducer);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.disconnect().catch(() => undefined)));
    await teardownTestPipeline({ topic, group });
  });

  const consume = (kafka: Kafka, groupId: string) => tryToConsume(kafka, topic, groupId, clients);

  test('outbox-relay may write the topic; transaction-service reads it with its own group', async () => {
    const value = `hello ${randomUUID()}`;
    await relayProducer.send({ topic, acks: -1, messages: [{ key: 'k', value }] });
    const read = await consume(testKafka('permissions-tx', 'transaction-service'), group);
    assert.deepEqual(read, { message: value });
  });

  test('a client without credentials cannot even read the metadata, let alone the topic', async () => {
    const anonymous = new Kafka({
      clientId: 'anonymous',
      brokers: TEST_KAFKA_BROKERS.split(','),
      logLevel: logLevel.NOTHING,
      connectionTimeout: 3_000,
      retry: { retries: 0 },
    });
    const admin = anonymous.admin();
    clients.push(admin);
    await assert.rejects(
      admin.connect().then(() => admin.fetchTopicMetadata({ topics: [topic] })),
      'an unauthenticated client is disconnected',
    );
    const consumer = anonymous.consumer({ groupId: group, retry: { retries: 0 } });
    clients.push(consumer);
    await assert.rejects(consumer.connect().then(() => consumer.subscribe({ topics: [topic], fromBeginning: true })));
  });

  test("the relay's credentials cannot read the topic: no group may be joined", async () => {
    for (const groupId of [group, uniqueName('relay-own-group')]) {
      const relay = observedKafka('permissions-relay-reader', 'outbox-relay');
      const outcome = await consume(relay.kafka, groupId);
      assert.equal(outcome.message, undefined, `read as group ${groupId}`);
      assert.ok(outcome.error, `group ${groupId}: the consumer stopped`);
      assert.ok(
        relay.errors.some((e) => /GROUP_AUTHORIZATION_FAILED|Not authorized to access group/.test(e)),
        `group ${groupId}: refused by the broker's ACLs (${outcome.error}; ${relay.errors.join(' | ')})`,
      );
    }
  });

  test("transaction-service's credentials cannot produce, create topics, or read with another group", async () => {
    const tx = testKafka('permissions-tx-writer', 'transaction-service');
    const producer = tx.producer({ retry: { retries: 0 } });
    clients.push(producer);
    await producer.connect();
    await assert.rejects(producer.send({ topic, acks: -1, messages: [{ key: 'forged', value: '{"user_id":"forged"}' }] }), topicNotAuthorized);
    // Nor as an idempotent producer (that needs the cluster's IDEMPOTENT_WRITE, the relay's alone).
    const idempotent = tx.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 1 } });
    clients.push(idempotent);
    await assert.rejects(idempotent.connect().then(() => idempotent.send({ topic, messages: [{ value: 'x' }] })));

    await adminRefusedNewTopics(tx, 'tx-made-topic', clients);

    const observed = observedKafka('permissions-tx-other-group', 'transaction-service');
    const outcome = await consume(observed.kafka, uniqueName('another-group'));
    assert.equal(outcome.message, undefined);
    assert.ok(
      observed.errors.some((e) => /GROUP_AUTHORIZATION_FAILED|Not authorized to access group/.test(e)),
      `refused by the broker's ACLs (${outcome.error}; ${observed.errors.join(' | ')})`,
    );
  });
});

describe('Kafka money-events: outbox-relay writes it, money-events-reader only reads it with a money-events-* group', () => {
  const moneyEvents = uniqueName('test-money-events');
  // A user-created-like pipeline beside it: a topic the reader must not read, and a group transaction-service may use.
  const userCreated = uniqueName('test-user-created');
  const txGroup = uniqueName('test-tx');
  const clients: KafkaClients = [];
  const written: Record<string, string> = {};

  before(async () => {
    // Exactly what `make infra` does for money-events and user-created, on this file's own topics.
    await setupTestMoneyEvents({ topic: moneyEvents, partitions: 1 });
    await setupTestPipeline({ topic: userCreated, partitions: 1, group: txGroup });
    const relay = testKafka('permissions-money-relay', 'outbox-relay').producer({ idempotent: true, maxInFlightRequests: 1 });
    clients.push(relay);
    await relay.connect();
    for (const topic of [moneyEvents, userCreated]) {
      written[topic] = `event ${randomUUID()}`;
      await relay.send({ topic, acks: -1, messages: [{ key: randomUUID(), value: written[topic] }] });
    }
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.disconnect().catch(() => undefined)));
    await teardownTestMoneyEvents({ topic: moneyEvents });
    await teardownTestPipeline({ topic: userCreated, group: txGroup });
  });

  /** The reader consumes money-events with a group of its own: what every refusal below is paired with. */
  async function readerReadsMoneyEvents(): Promise<void> {
    const groupId = testMoneyEventsGroup();
    assert.ok(groupId.startsWith(MONEY_EVENTS_GROUP_PREFIX), groupId);
    const read = await tryToConsume(testMoneyEventsReader('permissions-reader'), moneyEvents, groupId, clients);
    assert.deepEqual(read, { message: written[moneyEvents] }, `the reader reads money-events as ${groupId}`);
  }

  test('outbox-relay writes money-events (idempotently, in before()); money-events-reader consumes it with a money-events-* group', async () => {
    await readerReadsMoneyEvents();
    // The shared prefix ACL covers every such group, e.g. `money-events-x` (on this file's topic).
    const read = await tryToConsume(testMoneyEventsReader('permissions-reader-x'), moneyEvents, `${MONEY_EVENTS_GROUP_PREFIX}x`, clients);
    assert.deepEqual(read, { message: written[moneyEvents] });
  });

  test('money-events-reader cannot produce to money-events', async () => {
    const producer = testMoneyEventsReader('permissions-reader-writer').producer({ retry: { retries: 0 } });
    clients.push(producer);
    await producer.connect();
    await assert.rejects(producer.send({ topic: moneyEvents, acks: -1, messages: [{ key: 'forged', value: '{"type":"forged"}' }] }), topicNotAuthorized);
    await readerReadsMoneyEvents();
  });

  test('money-events-reader cannot read user-created, even with a money-events-* group', async () => {
    const observed = observedKafka('permissions-reader-user-created', 'money-events-reader');
    const outcome = await tryToConsume(observed.kafka, userCreated, testMoneyEventsGroup(), clients);
    assertRefused(outcome, observed.errors, TOPIC_REFUSED, 'the reader on user-created');
    // transaction-service, whose topic it is, does read it.
    const read = await tryToConsume(testKafka('permissions-tx-user-created', 'transaction-service'), userCreated, txGroup, clients);
    assert.deepEqual(read, { message: written[userCreated] });
  });

  test('money-events-reader cannot use a consumer group not starting with money-events-', async () => {
    // `money-events_…` has the prefix's letters but not its dash; the others are other principals' groups.
    for (const groupId of [uniqueName('reader-group'), uniqueName('money-events'), txGroup, 'transaction-service']) {
      const observed = observedKafka('permissions-reader-other-group', 'money-events-reader');
      const outcome = await tryToConsume(observed.kafka, moneyEvents, groupId, clients);
      assertRefused(outcome, observed.errors, GROUP_REFUSED, `group ${groupId}`);
    }
    await readerReadsMoneyEvents();
  });

  test('money-events-reader cannot create or delete topics (it may describe money-events)', async () => {
    const admin = await adminRefusedNewTopics(testMoneyEventsReader('permissions-reader-admin'), 'reader-made-topic', clients);
    await assert.rejects(admin.deleteTopics({ topics: [moneyEvents], timeout: 5_000 }), topicNotAuthorized);
    // It does see money-events (DESCRIBE), which is still there.
    const metadata = await admin.fetchTopicMetadata({ topics: [moneyEvents] });
    assert.deepEqual(metadata.topics.map((t) => t.name), [moneyEvents]);
    await readerReadsMoneyEvents();
  });

  test('transaction-service cannot read money-events, even with the group it may use', async () => {
    for (const groupId of [txGroup, testMoneyEventsGroup()]) {
      const observed = observedKafka('permissions-tx-money-events', 'transaction-service');
      const outcome = await tryToConsume(observed.kafka, moneyEvents, groupId, clients);
      assertRefused(outcome, observed.errors, TOPIC_REFUSED, `transaction-service as ${groupId}`);
    }
    await readerReadsMoneyEvents();
  });
});
