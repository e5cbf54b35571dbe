import Joi from 'joi';
import { configFields, defineConfig, localPostgresUrl, USER_CREATED_TOPIC } from '@wallet/platform';

export interface OutboxRelayConfig {
  /** user-service's database, where the outbox table lives. */
  databaseUrl: string;
  dbPoolMax: number;
  dbStatementTimeoutMs: number;
  kafkaBrokers: string;
  /** Its Kafka principal (SASL/SCRAM-SHA-512): may write the user-created topic only. */
  kafkaUsername: string;
  kafkaPassword: string;
  /** TLS to the brokers (SASL_SSL), for production; the local broker is SASL_PLAINTEXT on loopback. */
  kafkaSsl: boolean;
  userCreatedTopic: string;
  userCreatedTopicPartitions: number;
  batchSize: number;
  pollIntervalMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Address and port of the small /healthz, /readyz, /metrics server; 0 picks a free port. */
  host: string;
  port: number;
  logLevel: string;
}

export const outboxRelayConfig = defineConfig<OutboxRelayConfig>({
  databaseUrl: { env: 'DATABASE_URL', schema: configFields.postgresUrl(localPostgresUrl('outbox_relay', 'wallet_users')) },
  dbPoolMax: { env: 'DB_POOL_MAX', schema: configFields.positiveInt(4) },
  dbStatementTimeoutMs: { env: 'DB_STATEMENT_TIMEOUT_MS', schema: configFields.statementTimeoutMs() },
  kafkaBrokers: { env: 'KAFKA_BROKERS', schema: configFields.kafkaBrokers() },
  kafkaUsername: { env: 'KAFKA_SASL_USERNAME', schema: configFields.brokerUser('outbox-relay') },
  kafkaPassword: { env: 'KAFKA_SASL_PASSWORD', schema: configFields.brokerPassword() },
  kafkaSsl: { env: 'KAFKA_SSL', schema: Joi.boolean().default(false) },
  userCreatedTopic: { env: 'KAFKA_TOPIC_USER_CREATED', schema: Joi.string().pattern(/^[A-Za-z0-9._-]+$/).default(USER_CREATED_TOPIC) },
  userCreatedTopicPartitions: { env: 'KAFKA_TOPIC_PARTITIONS', schema: Joi.number().integer().min(1).max(1_000).default(6) },
  batchSize: { env: 'RELAY_BATCH_SIZE', schema: Joi.number().integer().min(1).max(1_000).default(500) },
  pollIntervalMs: { env: 'RELAY_POLL_INTERVAL_MS', schema: Joi.number().integer().min(10).default(1_000) },
  initialBackoffMs: { env: 'RELAY_INITIAL_BACKOFF_MS', schema: Joi.number().integer().min(1).default(200) },
  maxBackoffMs: { env: 'RELAY_MAX_BACKOFF_MS', schema: Joi.number().integer().min(1).default(30_000) },
  host: { env: 'HOST', schema: configFields.host() },
  port: { env: 'PORT', schema: configFields.port(3003) },
  logLevel: { env: 'LOG_LEVEL', schema: configFields.logLevel() },
});

export function loadOutboxRelayConfig(env: NodeJS.ProcessEnv = process.env): OutboxRelayConfig {
  return outboxRelayConfig.load(env);
}
