// The infrastructure step for Kafka, run with the admin principal: waits for the broker, creates the
// topics and grants each principal exactly its part (README, "Security model"):
//   outbox-relay         WRITE (+DESCRIBE) on user-created and money-events, IDEMPOTENT_WRITE on the cluster
//   transaction-service  READ (+DESCRIBE) on user-created, READ on its consumer group
//   money-events-reader  READ (+DESCRIBE) on money-events, READ on the groups named money-events-*
// None may create, delete or alter topics, read what it should not, or join another group.
// Used by infra.sh (the real topics), the test harnesses and `make chaos` (a unique topic and group
// each), so the ACLs under test are the ones the stack runs with.
//   node kafka-setup.mjs wait <seconds>
//   node kafka-setup.mjs setup [--topic user-created] [--partitions 6] [--group transaction-service]
//                              [--money-events-topic money-events]   (with the same partition count)
//   node kafka-setup.mjs teardown --topic T --group G      (tests: the topic and its ACLs)
//   node kafka-setup.mjs login <user> [seconds]            (infra.sh: does KAFKA_LOGIN_PASSWORD log <user> in?
//                                                           exit 0 yes, 3 refused, 1 no broker answered)
// Brokers: KAFKA_BROKERS (default 127.0.0.1:9094); admin password: KAFKA_ADMIN_PASSWORD.
import { pathToFileURL } from 'node:url';
import kafkajs from 'kafkajs';

const { Kafka, logLevel, AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes } = kafkajs;

export const KAFKA_USERS = {
  admin: 'admin',
  relay: 'outbox-relay',
  consumer: 'transaction-service',
  moneyEventsReader: 'money-events-reader',
};

/** The reader's consumer groups all start with this: one PREFIXED ACL lets each consumer pick its own group. */
export const MONEY_EVENTS_GROUP_PREFIX = 'money-events-';

const defaultBrokers = () => process.env.KAFKA_BROKERS ?? '127.0.0.1:9094';

/** One ALLOW entry; a PREFIXED pattern matches every resource whose name starts with `resourceName`. */
function allow(resourceType, resourceName, principal, operation, resourcePatternType = ResourcePatternTypes.LITERAL) {
  return {
    resourceType,
    resourceName,
    resourcePatternType,
    principal: `User:${principal}`,
    host: '*',
    operation,
    permissionType: AclPermissionTypes.ALLOW,
  };
}

/** The relay's part of a topic it publishes: WRITE it, idempotently (that is a cluster-wide grant). */
function relayWriteAcls(topic, relayUser) {
  return [
    allow(AclResourceTypes.TOPIC, topic, relayUser, AclOperationTypes.WRITE),
    allow(AclResourceTypes.TOPIC, topic, relayUser, AclOperationTypes.DESCRIBE),
    allow(AclResourceTypes.CLUSTER, 'kafka-cluster', relayUser, AclOperationTypes.IDEMPOTENT_WRITE),
  ];
}

/** The ACL entries of one pipeline: the relay writes `topic`, the consumer reads it as `group`. */
export function pipelineAcls({ topic, group, relayUser = KAFKA_USERS.relay, consumerUser = KAFKA_USERS.consumer }) {
  return [
    ...relayWriteAcls(topic, relayUser),
    allow(AclResourceTypes.TOPIC, topic, consumerUser, AclOperationTypes.READ),
    allow(AclResourceTypes.TOPIC, topic, consumerUser, AclOperationTypes.DESCRIBE),
    allow(AclResourceTypes.GROUP, group, consumerUser, AclOperationTypes.READ),
  ];
}

/**
 * The ACL entries of money-events: the relay writes `topic`; the read-only reader reads it with any
 * consumer group named `money-events-*` (each downstream consumer picks its own group under the prefix).
 */
export function moneyEventsAcls({ topic, relayUser = KAFKA_USERS.relay, readerUser = KAFKA_USERS.moneyEventsReader }) {
  return [
    ...relayWriteAcls(topic, relayUser),
    allow(AclResourceTypes.TOPIC, topic, readerUser, AclOperationTypes.READ),
    allow(AclResourceTypes.TOPIC, topic, readerUser, AclOperationTypes.DESCRIBE),
    allow(AclResourceTypes.GROUP, MONEY_EVENTS_GROUP_PREFIX, readerUser, AclOperationTypes.READ, ResourcePatternTypes.PREFIXED),
  ];
}

export function adminClient({ brokers = defaultBrokers(), password = process.env.KAFKA_ADMIN_PASSWORD } = {}) {
  if (!password) throw new Error('KAFKA_ADMIN_PASSWORD is not set (see platform/tools/infra/credentials.sh)');
  return new Kafka({
    clientId: 'kafka-setup',
    brokers: brokers.split(','),
    sasl: { mechanism: 'scram-sha-512', username: KAFKA_USERS.admin, password },
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
  });
}

/** Runs `work` with a connected admin client, which is disconnected whatever happens. */
async function withAdmin(client, work) {
  const admin = adminClient(client).admin();
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Creates the topic when missing (partitions as given; an existing topic is left as it is). */
async function ensureTopic(admin, topic, partitions) {
  if (!(await admin.listTopics()).includes(topic)) {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  }
}

/**
 * Deletes a test's topic and those of `acls` that are its own: the cluster grant and the reader's
 * group prefix are shared with every other topic (and the real stack), so they stay.
 */
async function deleteTestTopic(admin, topic, acls) {
  const own = acls.filter((acl) => acl.resourceType !== AclResourceTypes.CLUSTER && acl.resourcePatternType === ResourcePatternTypes.LITERAL);
  await admin.deleteAcls({ filters: own });
  await admin.deleteTopics({ topics: [topic], timeout: 5_000 }).catch(() => undefined);
}

/** Creates the topic when missing and grants the pipeline's ACLs (granting an existing ACL changes nothing). */
export async function setupPipeline({ topic, partitions, group, ...client }) {
  await withAdmin(client, async (admin) => {
    await ensureTopic(admin, topic, partitions);
    await admin.createAcls({ acl: pipelineAcls({ topic, group }) });
  });
}

/** Deletes a test pipeline's topic and its topic and group ACLs (the cluster grant is shared). */
export async function teardownPipeline({ topic, group, ...client }) {
  await withAdmin(client, (admin) => deleteTestTopic(admin, topic, pipelineAcls({ topic, group })));
}

/** Creates a money-events topic when missing; the relay may write it, the reader read it. */
export async function setupMoneyEvents({ topic, partitions, ...client }) {
  await withAdmin(client, async (admin) => {
    await ensureTopic(admin, topic, partitions);
    await admin.createAcls({ acl: moneyEventsAcls({ topic }) });
  });
}

/** Deletes a test's money-events topic and its topic ACLs. */
export async function teardownMoneyEvents({ topic, ...client }) {
  await withAdmin(client, (admin) => deleteTestTopic(admin, topic, moneyEventsAcls({ topic })));
}

/** Waits until the broker answers a metadata request as the admin (not merely an open port). */
export async function waitForKafka(seconds, client = {}) {
  const deadline = Date.now() + seconds * 1000;
  let last;
  while (Date.now() < deadline) {
    const admin = adminClient(client).admin();
    try {
      await admin.connect();
      await admin.fetchTopicMetadata({ topics: [] });
      await admin.disconnect();
      return;
    } catch (error) {
      last = error;
      await admin.disconnect().catch(() => {});
      // Wrong credentials will not get better by waiting.
      if (/SASL|authenticat/i.test(String(error?.message ?? error)) && !/ECONNREFUSED/.test(String(error))) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  throw new Error(`no Kafka broker accepted the admin credentials within ${seconds} s: ${last?.message ?? last}`);
}

/** One login attempt: 'accepted', 'refused' (the broker said no), or the error when no broker answered. */
async function loginOnce({ user, password, brokers }) {
  const admin = new Kafka({
    clientId: 'kafka-setup-login',
    brokers: brokers.split(','),
    sasl: { mechanism: 'scram-sha-512', username: user, password },
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    return 'accepted';
  } catch (error) {
    if (error?.name === 'KafkaJSSASLAuthenticationError') return 'refused';
    return error;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * Whether `user` logs in with `password`: 'accepted' or 'refused'. Tries again for up to `seconds`
 * while the answer is not 'accepted' (a SCRAM user just added reaches the broker a moment later);
 * throws when no broker answered by then.
 */
export async function tryLogin({ user, password, seconds = 0, brokers = defaultBrokers() }) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const outcome = await loginOnce({ user, password, brokers });
    if (outcome === 'accepted') return outcome;
    if (Date.now() >= deadline) {
      if (outcome === 'refused') return outcome;
      throw outcome;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function option(args, name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
}

/** `setup`: the real topics, as `make infra` and compose's kafka-setup service create them. */
async function setupAll(args) {
  const topic = option(args, 'topic', process.env.KAFKA_TOPIC_USER_CREATED ?? 'user-created');
  const partitions = Number(option(args, 'partitions', process.env.KAFKA_TOPIC_PARTITIONS ?? '6'));
  const group = option(args, 'group', process.env.KAFKA_CONSUMER_GROUP ?? 'transaction-service');
  const moneyEvents = option(args, 'money-events-topic', process.env.KAFKA_TOPIC_MONEY_EVENTS ?? 'money-events');
  await setupPipeline({ topic, partitions, group });
  process.stdout.write(`[infra] Kafka topic ${topic} (${partitions} partitions) and ACLs for group ${group} in place\n`);
  // The same partition count: both topics are keyed by user id, so their consumers scale alike.
  await setupMoneyEvents({ topic: moneyEvents, partitions });
  process.stdout.write(
    `[infra] Kafka topic ${moneyEvents} (${partitions} partitions) and ACLs for ${KAFKA_USERS.moneyEventsReader} (groups ${MONEY_EVENTS_GROUP_PREFIX}*) in place\n`,
  );
}

const USAGE =
  'usage: kafka-setup.mjs wait <seconds> | setup [--topic T --partitions N --group G --money-events-topic M]' +
  ' | teardown --topic T --group G | login <user> [seconds]\n';

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [command, ...args] = process.argv.slice(2);
  try {
    if (command === 'wait') await waitForKafka(Number(args[0] ?? 60));
    else if (command === 'setup') await setupAll(args);
    else if (command === 'teardown') await teardownPipeline({ topic: option(args, 'topic'), group: option(args, 'group') });
    else if (command === 'login' && args[0]) {
      const outcome = await tryLogin({ user: args[0], password: process.env.KAFKA_LOGIN_PASSWORD ?? '', seconds: Number(args[1] ?? 0) });
      process.exit(outcome === 'accepted' ? 0 : 3);
    } else {
      process.stderr.write(USAGE);
      process.exit(2);
    }
  } catch (error) {
    process.stderr.write(`kafka-setup ${command}: ${error?.message ?? error}\n`);
    process.exit(1);
  }
}
