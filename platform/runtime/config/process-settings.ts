import Joi from 'joi';
import { BALANCE_SUBJECT } from '../contracts/balance-request';
import { MONEY_EVENTS_TOPIC } from '../contracts/money-events-topic';
import { USER_CREATED_TOPIC } from '../contracts/user-created-event';
import { configFields, type SettingsOf } from './load-config';
import { localPostgresUrl } from './local-infrastructure';

/**
 * Groups of settings that several processes read with the same environment variables, defaults
 * and validation. A process's `defineConfig` spreads the groups it needs, so e.g. KAFKA_SSL means
 * the same thing, and fails the same way, in every process that reads it. Defaults that differ
 * between processes (port, login, pool size) are the parameters. Each group's type is derived
 * from its spec (SettingsOf), so a setting is written once.
 */

/**
 * HOST/PORT: where the process's HTTP listener binds; HTTP_BODY_LIMIT_BYTES: the largest request
 * body it reads (a larger one is refused, 413, before it is read).
 */
export function httpListenerSettings(defaults: { port: number; bodyLimitBytes: number }) {
  return {
    host: { env: 'HOST', schema: configFields.host() },
    port: { env: 'PORT', schema: configFields.port(defaults.port) },
    httpBodyLimitBytes: { env: 'HTTP_BODY_LIMIT_BYTES', schema: configFields.positiveInt(defaults.bodyLimitBytes) },
  };
}

export type HttpListenerSettings = SettingsOf<typeof httpListenerSettings>;

/** The process's own PostgreSQL login (only the DML it needs, see db/README.md) and its pool. */
export function databaseSettings(defaults: { role: string; database: string; poolMax: number }) {
  return {
    databaseUrl: { env: 'DATABASE_URL', schema: configFields.postgresUrl(localPostgresUrl(defaults.role, defaults.database)) },
    dbPoolMax: { env: 'DB_POOL_MAX', schema: configFields.positiveInt(defaults.poolMax) },
    dbStatementTimeoutMs: { env: 'DB_STATEMENT_TIMEOUT_MS', schema: configFields.statementTimeoutMs() },
  };
}

export type DatabaseSettings = SettingsOf<typeof databaseSettings>;

/**
 * A service that owns its database: it also applies the migrations, logged in as the owner role
 * (migrationDatabaseUrl, used for nothing else).
 */
export function ownedDatabaseSettings(defaults: { role: string; ownerRole: string; database: string; poolMax: number }) {
  const { databaseUrl, ...pool } = databaseSettings(defaults);
  return {
    databaseUrl,
    migrationDatabaseUrl: {
      env: 'MIGRATION_DATABASE_URL',
      schema: configFields.postgresUrl(localPostgresUrl(defaults.ownerRole, defaults.database)),
    },
    ...pool,
  };
}

export type OwnedDatabaseSettings = SettingsOf<typeof ownedDatabaseSettings>;

/** Either end of the balance request/reply: the process's own NATS login and the subject both ends use. */
export function balanceNatsSettings(defaultUser: string) {
  return {
    natsUrl: { env: 'NATS_URL', schema: configFields.natsUrl() },
    natsUser: { env: 'NATS_USER', schema: configFields.brokerUser(defaultUser) },
    natsPassword: { env: 'NATS_PASSWORD', schema: configFields.brokerPassword() },
    balanceSubject: { env: 'BALANCE_SUBJECT', schema: Joi.string().pattern(/^[A-Za-z0-9_.-]+$/).default(BALANCE_SUBJECT) },
  };
}

export type BalanceNatsSettings = SettingsOf<typeof balanceNatsSettings>;

/**
 * What user-service and transaction-service both read: their public HTTP listener (JSON bodies up
 * to 64 KiB), the database each owns and migrates, their end of the balance request/reply, and
 * LOG_LEVEL. Each logs in as itself: `service` is its default NATS login.
 */
export function apiServiceSettings(service: string, defaults: { port: number; database: Parameters<typeof ownedDatabaseSettings>[0] }) {
  return {
    ...httpListenerSettings({ port: defaults.port, bodyLimitBytes: 65_536 }),
    ...ownedDatabaseSettings(defaults.database),
    ...balanceNatsSettings(service),
    logLevel: { env: 'LOG_LEVEL', schema: configFields.logLevel() },
  };
}

/**
 * Either end of the user-created topic: the process's own Kafka principal (SASL/SCRAM-SHA-512),
 * TLS to the brokers (KAFKA_SSL, SASL_SSL for production; the local broker is SASL_PLAINTEXT on
 * loopback), and the topic with the partitions it is created with (by whichever end finds it
 * missing first).
 */
export function userCreatedKafkaSettings(defaultUser: string) {
  return {
    kafkaBrokers: { env: 'KAFKA_BROKERS', schema: configFields.kafkaBrokers() },
    kafkaUsername: { env: 'KAFKA_SASL_USERNAME', schema: configFields.brokerUser(defaultUser) },
    kafkaPassword: { env: 'KAFKA_SASL_PASSWORD', schema: configFields.brokerPassword() },
    kafkaSsl: { env: 'KAFKA_SSL', schema: Joi.boolean().default(false) },
    userCreatedTopic: { env: 'KAFKA_TOPIC_USER_CREATED', schema: Joi.string().pattern(/^[A-Za-z0-9._-]+$/).default(USER_CREATED_TOPIC) },
    userCreatedTopicPartitions: { env: 'KAFKA_TOPIC_PARTITIONS', schema: Joi.number().integer().min(1).max(1_000).default(6) },
  };
}

export type UserCreatedKafkaSettings = SettingsOf<typeof userCreatedKafkaSettings>;

/** The money-events topic (created by the infrastructure step with KAFKA_TOPIC_PARTITIONS partitions). */
export function moneyEventsKafkaSettings() {
  return {
    moneyEventsTopic: { env: 'KAFKA_TOPIC_MONEY_EVENTS', schema: Joi.string().pattern(/^[A-Za-z0-9._-]+$/).default(MONEY_EVENTS_TOPIC) },
  };
}

export type MoneyEventsKafkaSettings = SettingsOf<typeof moneyEventsKafkaSettings>;
