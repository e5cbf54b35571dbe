// `make tail-events`: prints money events (CloudEvents JSON on the money-events topic) as they arrive,
// one line each: time, type, subject (the user), sequence, amount, balance after.
// It logs in as money-events-reader, the read-only principal downstream consumers use (README,
// "Security model"), with a throwaway consumer group money-events-tail-<random>: it commits no
// offsets, so the group is gone once it stops, and two tails never share (or steal) messages.
//   KAFKA_SASL_PASSWORD   the reader's password (`credentials.sh exec money-events-reader` sets it)
//   WALLET_FROM           `beginning` starts at the oldest event kept; otherwise only new ones
//   KAFKA_TOPIC_MONEY_EVENTS (default money-events), KAFKA_BROKERS (default 127.0.0.1:$KAFKA_PORT or 9094)
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;

const READER = 'money-events-reader';
const GROUP_PREFIX = 'money-events-tail-';
/** Stopping waits this long for the consumer to leave its group, then exits anyway. */
const STOP_TIMEOUT_MS = 5_000;

function settings(env = process.env) {
  const password = env.KAFKA_SASL_PASSWORD;
  if (!password) throw new Error(`KAFKA_SASL_PASSWORD is not set: run it as \`make tail-events\` (credentials.sh exec ${READER})`);
  return {
    brokers: (env.KAFKA_BROKERS ?? `127.0.0.1:${env.KAFKA_PORT ?? '9094'}`).split(','),
    topic: env.KAFKA_TOPIC_MONEY_EVENTS ?? 'money-events',
    fromBeginning: env.WALLET_FROM === 'beginning',
    password,
  };
}

/** A field's value as printed: '-' when the event lacks it. */
const shown = (value) => (value === undefined || value === null || value === '' ? '-' : String(value));

/**
 * One event as one line. Attributes are looked for where CloudEvents puts them (`sequence` is its
 * extension attribute) and then in `data`; anything that is not JSON is shown as it came.
 */
export function formatMoneyEvent(value, { timestamp, partition, offset } = {}) {
  let event;
  try {
    event = JSON.parse(value);
  } catch {
    return `${new Date(Number(timestamp ?? Date.now())).toISOString()}  (not JSON, partition ${partition} offset ${offset})  ${value}`;
  }
  const data = event?.data && typeof event.data === 'object' ? event.data : {};
  const pick = (name) => event?.[name] ?? data[name];
  const time = pick('time') ?? new Date(Number(timestamp ?? Date.now())).toISOString();
  return [
    shown(time).padEnd(24),
    shown(pick('type')).padEnd(28),
    `user=${shown(pick('subject') ?? data.user_id)}`,
    `seq=${shown(pick('sequence'))}`.padEnd(10),
    `amount=${shown(pick('amount'))}`.padEnd(20),
    `balance_after=${shown(pick('balance_after'))}`,
  ].join('  ');
}

function readerClient({ brokers, password }) {
  return new Kafka({
    clientId: 'tail-events',
    brokers,
    sasl: { mechanism: 'scram-sha-512', username: READER, password },
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    // A broker that is away is reported after a few seconds instead of retried for ever.
    retry: { retries: 3, initialRetryTime: 300, maxRetryTime: 2_000 },
  });
}

/** Disconnects, but never waits longer than STOP_TIMEOUT_MS for it (the timer does not keep the process up). */
async function stop(consumer) {
  const timeout = new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS).unref());
  await Promise.race([consumer.disconnect().catch(() => undefined), timeout]);
}

async function tail() {
  const config = settings();
  const groupId = `${GROUP_PREFIX}${randomBytes(4).toString('hex')}`;
  const consumer = readerClient(config).consumer({
    groupId,
    retry: { retries: 3, restartOnFailure: () => Promise.resolve(false) },
    // Leaving waits for the fetch in flight: a 1 s long-poll (not 5) makes Ctrl-C quick; a message still arrives at once.
    maxWaitTimeInMs: 1_000,
  });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => void stop(consumer).then(() => process.exit(0)));
  }
  consumer.on(consumer.events.CRASH, (event) => {
    process.stderr.write(`tail-events: ${event.payload.error.message}\n`);
    void stop(consumer).then(() => process.exit(1));
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [config.topic], fromBeginning: config.fromBeginning });
  process.stderr.write(
    `[tail-events] ${config.topic} as ${READER}, group ${groupId}, ${config.fromBeginning ? 'from the oldest event' : 'new events only'} (Ctrl-C stops)\n`,
  );
  await consumer.run({
    // Nothing is committed: a throwaway group leaves no offsets behind.
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      process.stdout.write(`${formatMoneyEvent(message.value?.toString() ?? '', { timestamp: message.timestamp, partition, offset: message.offset })}\n`);
    },
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  tail().catch((error) => {
    process.stderr.write(`tail-events: ${error?.message ?? error}\n`);
    process.exit(1);
  });
}
