import Joi from 'joi';
import { BALANCE_SUBJECT } from '../contracts/balance-request';
import { MONEY_EVENTS_TOPIC } from '../contracts/money-events-topic';
import { USER_CREATED_TOPIC } from '../contracts/user-created-event';
import { configFields, type ConfigSpec } from './load-config';
import { localPostgresUrl } from './local-infrastructure';

/**
 * Groups of settings that several processes read with the same environment variables, defaults
 * and validation. A process's `defineConfig` spreads the groups it needs, so e.g. KAFKA_SSL means
 * the same thing, and fails the same way, in every process that reads it. Defaults that differ
 * between processes (port, login, pool size) are the parameters.
 */

/** HOST/PORT: where the process's HTTP listener binds. */
export interface HttpListenerSettings {
  host: string;
  port: number;
}

export function httpListenerSettings(defaultPort: number): ConfigSpec<HttpListenerSettings> {
  return {
    host: { env: 'HOST', schema: configFields.host() },
    port: { env: 'PORT', schema: configFields.port(defaultPort) },
  };
}

/** The process's own PostgreSQL login (only the DML it needs, see db/README.md) and its pool. */
export interface DatabaseSettings {
  databaseUrl: string;
  dbPoolMax: number;
  dbStatementTimeoutMs: number;
}

export function databaseSettings(defaults: { role: string; database: string; poolMax: number }): ConfigSpec<DatabaseSettings> {
  return {
    databaseUrl: { env: 'DATABASE_URL', schema: configFields.postgresUrl(localPostgresUrl(defaults.role, defaults.database)) },
    dbPoolMax: { env: 'DB_POOL_MAX', schema: configFields.positiveInt(defaults.poolMax) },
    dbStatementTimeoutMs: { env: 'DB_STATEMENT_TIMEOUT_MS', schema: configFields.statementTimeoutMs() },
  };
}

/** A service that owns its database: it also applies the migrations, logged in as the owner role. */
export interface OwnedDatabaseSettings extends DatabaseSettings {
  /** The database owner's login, used only to apply the migrations. */
  migrationDatabaseUrl: string;
}

export function ownedDatabaseSettings(defaults: {
  role: string;
  ownerRole: string;
  database: string;
  poolMax: number;
}): ConfigSpec<OwnedDatabaseSettings> {
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

/** Either end of the balance request/reply: the process's own NATS login and the subject both ends use. */
export interface BalanceNatsSettings {
  natsUrl: string;
  natsUser: string;
  natsPassword: string;
  balanceSubject: string;
}

export function balanceNatsSettings(defaultUser: string): ConfigSpec<BalanceNatsSettings> {
  return {
    natsUrl: { env: 'NATS_URL', schema: configFields.natsUrl() },
    natsUser: { env: 'NATS_USER', schema: configFields.brokerUser(defaultUser) },
    natsPassword: { env: 'NATS_PASSWORD', schema: configFields.brokerPassword() },
    balanceSubject: { env: 'BALANCE_SUBJECT', schema: Joi.string().pattern(/^[A-Za-z0-9_.-]+$/).default(BALANCE_SUBJECT) },
  };
}

/**
 * Either end of the user-created topic: the process's own Kafka principal (SASL/SCRAM-SHA-512),
 * TLS to the brokers, and the topic with the partitions it is created with (by whichever end
 * finds it missing first).
 */
export interface UserCreatedKafkaSettings {
  kafkaBrokers: string;
  kafkaUsername: string;
  kafkaPassword: string;
  /** TLS to the brokers (SASL_SSL), for production; the local broker is SASL_PLAINTEXT on loopback. */
  kafkaSsl: boolean;
  userCreatedTopic: string;
  userCreatedTopicPartitions: number;
}

export function userCreatedKafkaSettings(defaultUser: string): ConfigSpec<UserCreatedKafkaSettings> {
  return {
    kafkaBrokers: { env: 'KAFKA_BROKERS', schema: configFields.kafkaBrokers() },
    kafkaUsername: { env: 'KAFKA_SASL_USERNAME', schema: configFields.brokerUser(defaultUser) },
    kafkaPassword: { env: 'KAFKA_SASL_PASSWORD', schema: configFields.brokerPassword() },
    kafkaSsl: { env: 'KAFKA_SSL', schema: Joi.boolean().default(false) },
    userCreatedTopic: { env: 'KAFKA_TOPIC_USER_CREATED', schema: Joi.string().pattern(/^[A-Za-z0-9._-]+$/).default(USER_CREATED_TOPIC) },
    userCreatedTopicPartitions: { env: 'KAFKA_TOPIC_PARTITIONS', schema: Joi.number().integer().min(1).max(1_000).default(6) },
  };
}

/** The money-events topic (created by the infrastructure step with KAFKA_TOPIC_PARTITIONS partitions). */
export interface MoneyEventsKafkaSettings {
  moneyEventsTopic: string;
}

export function moneyEventsKafkaSettings(): ConfigSpec<MoneyEventsKafkaSettings> {
  return {
    moneyEventsTopic: { env: 'KAFKA_TOPIC_MONEY_EVENTS', schema: Joi.string().pattern(/^[A-Za-z0-9._-]+$/).default(MONEY_EVENTS_TOPIC) },
  };
}
