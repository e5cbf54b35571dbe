import { Kafka, logLevel, type Admin, type ITopicConfig, type LogEntry } from 'kafkajs';
import type { Logger } from 'pino';
import { splitBrokers } from '../config/load-config';
import type { UserCreatedKafkaSettings } from '../config/process-settings';

/** A principal's SASL/SCRAM-SHA-512 login (the only mechanism the broker enables). */
export interface KafkaCredentials {
  username: string;
  password: string;
}

/**
 * `credentials` log in with SASL/SCRAM-SHA-512; `ssl` adds TLS (SASL_SSL, for production: the
 * local broker listens SASL_PLAINTEXT on loopback only). Without credentials the client is
 * anonymous, which the broker refuses.
 */
export function createKafka(options: {
  clientId: string;
  brokers: string[];
  logger: Logger;
  credentials?: KafkaCredentials;
  ssl?: boolean;
}): Kafka {
  const log = options.logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    ...(options.credentials
      ? { sasl: { mechanism: 'scram-sha-512' as const, username: options.credentials.username, password: options.credentials.password } }
      : {}),
    ...(options.ssl ? { ssl: true } : {}),
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 5 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        if (level <= logLevel.ERROR) log.error(rest, message);
        else if (level === logLevel.WARN) log.warn(rest, message);
        else log.debug(rest, message);
      },
  });
}

/** createKafka with the process's KAFKA_BROKERS, SASL login and KAFKA_SSL. */
export function createKafkaFromSettings(
  settings: Pick<UserCreatedKafkaSettings, 'kafkaBrokers' | 'kafkaUsername' | 'kafkaPassword' | 'kafkaSsl'>,
  clientId: string,
  logger: Logger,
): Kafka {
  return createKafka({
    clientId,
    brokers: splitBrokers(settings.kafkaBrokers),
    logger,
    credentials: { username: settings.kafkaUsername, password: settings.kafkaPassword },
    ssl: settings.kafkaSsl,
  });
}

/**
 * Creates the topics explicitly (the broker's auto-create is not relied on, so partition counts
 * are ours). Topics that exist are left as they are.
 */
export async function ensureTopics(kafka: Kafka, topics: ITopicConfig[]): Promise<void> {
  const admin: Admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length > 0) {
      await admin.createTopics({ topics: missing, waitForLeaders: true });
    }
  } finally {
    await admin.disconnect();
  }
}

/** One metadata round trip: throws when no broker answers. */
export async function checkKafka(kafka: Kafka): Promise<void> {
  const admin = kafka.admin({ retry: { retries: 0 } });
  await admin.connect();
  try {
    await admin.fetchTopicMetadata({ topics: [] });
  } finally {
    await admin.disconnect();
  }
}
