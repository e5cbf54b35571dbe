// The infrastructure step for Kafka, run with the admin principal: waits for the broker, creates the
// user-created topic and grants each service exactly its part (README, "Security model"):
//   outbox-relay         WRITE (+DESCRIBE) on the topic, IDEMPOTENT_WRITE on the cluster
//   transaction-service  READ (+DESCRIBE) on the topic, READ on its consumer group
// Neither service may create, delete or alter topics, read what it should not, or join another group.
// Used by infra.sh (the real topic), the test harnesses and `make chaos` (a unique topic and group
// each), so the ACLs under test are the ones the stack runs with.
//   node kafka-setup.mjs wait <seconds>
//   node kafka-setup.mjs setup [--topic user-created] [--partitions 6] [--group transaction-service]
//   node kafka-setup.mjs teardown --topic T --group G      (tests: the topic and its ACLs)
// Brokers: KAFKA_BROKERS (default 127.0.0.1:9094); admin password: KAFKA_ADMIN_PASSWORD.
import { pathToFileURL } from 'node:url';
import kafkajs from 'kafkajs';

const { Kafka, logLevel, AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes } = kafkajs;

export const KAFKA_USERS = { admin: 'admin', relay: 'outbox-relay', consumer: 'transaction-service' };

/** The ACL entries of one pipeline: the relay writes `topic`, the consumer reads it as `group`. */
export function pipelineAcls({ topic, group, relayUser = KAFKA_USERS.relay, consumerUser = KAFKA_USERS.consumer }) {
  const entry = (resourceType, resourceName, principal, operation) => ({
    resourceType,
    resourceName,
    resourcePatternType: ResourcePatternTypes.LITERAL,
    principal: `User:${principal}`,
    host: '*',
    operation,
    permissionType: AclPermissionTypes.ALLOW,
  });
  return [
    entry(AclResourceTypes.TOPIC, topic, relayUser, AclOperationTypes.WRITE),
    entry(AclResourceTypes.TOPIC, topic, relayUser, AclOperationTypes.DESCRIBE),
    entry(AclResourceTypes.CLUSTER, 'kafka-cluster', relayUser, AclOperationTypes.IDEMPOTENT_WRITE),
    entry(AclResourceTypes.TOPIC, topic, consumerUser, AclOperationTypes.READ),
    entry(AclResourceTypes.TOPIC, topic, consumerUser, AclOperationTypes.DESCRIBE),
    entry(AclResourceTypes.GROUP, group, consumerUser, AclOperationTypes.READ),
  ];
}

export function adminClient({ brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9094', password = process.env.KAFKA_ADMIN_PASSWORD } = {}) {
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

/** Creates the topic when missing (partitions as given; an existing topic is left as it is) and grants the ACLs. */
export async function setupPipeline({ topic, partitions, group, ...client }) {
  const admin = adminClient(client).admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) {
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    }
    await admin.createAcls({ acl: pipelineAcls({ topic, group }) });
  } finally {
    await admin.disconnect();
  }
}

/** Deletes a test pipeline's topic and its topic and group ACLs (the cluster grant is shared). */
export async function teardownPipeline({ topic, group, ...client }) {
  const admin = adminClient(client).admin();
  await admin.connect();
  try {
    const own = pipelineAcls({ topic, group }).filter((acl) => acl.resourceType !== AclResourceTypes.CLUSTER);
    await admin.deleteAcls({ filters: own });
    await admin.deleteTopics({ topics: [topic], timeout: 5_000 }).catch(() => undefined);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
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

function option(args, name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [command, ...args] = process.argv.slice(2);
  try {
    if (command === 'wait') await waitForKafka(Number(args[0] ?? 60));
    else if (command === 'setup') {
      const topic = option(args, 'topic', process.env.KAFKA_TOPIC_USER_CREATED ?? 'user-created');
      const partitions = Number(option(args, 'partitions', process.env.KAFKA_TOPIC_PARTITIONS ?? '6'));
      const group = option(args, 'group', process.env.KAFKA_CONSUMER_GROUP ?? 'transaction-service');
      await setupPipeline({ topic, partitions, group });
      process.stdout.write(`[infra] Kafka topic ${topic} (${partitions} partitions) and ACLs for group ${group} in place\n`);
    } else if (command === 'teardown') {
      await teardownPipeline({ topic: option(args, 'topic'), group: option(args, 'group') });
    } else {
      process.stderr.write('usage: kafka-setup.mjs wait <seconds> | setup [--topic T --partitions N --group G] | teardown --topic T --group G\n');
      process.exit(2);
    }
  } catch (error) {
    process.stderr.write(`kafka-setup ${command}: ${error?.message ?? error}\n`);
    process.exit(1);
  }
}
