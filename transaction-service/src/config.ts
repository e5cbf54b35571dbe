import Joi from 'joi';
import { BALANCE_SUBJECT, configFields, defineConfig, localPostgresUrl, USER_CREATED_TOPIC } from '@wallet/platform';
import { parseAmount } from './domain/money';

export interface TransactionServiceConfig {
  host: string;
  port: number;
  /** The operators' listener (GET /internal/reconcile): loopback only unless told otherwise. */
  operatorHost: string;
  operatorPort: number;
  /** The service's own login: only the DML it needs; the ledger is insert-only (see db/README.md). */
  databaseUrl: string;
  /** The database owner's login, used only to apply the migrations at start-up. */
  migrationDatabaseUrl: string;
  dbPoolMax: number;
  dbStatementTimeoutMs: number;
  natsUrl: string;
  /** Its NATS login: may answer balance requests in its queue group, and publish nothing else. */
  natsUser: string;
  natsPassword: string;
  balanceSubject: string;
  kafkaBrokers: string;
  /** Its Kafka principal (SASL/SCRAM-SHA-512): may read the user-created topic with its group only. */
  kafkaUsername: string;
  kafkaPassword: string;
  /** TLS to the brokers (SASL_SSL), for production; the local broker is SASL_PLAINTEXT on loopback. */
  kafkaSsl: boolean;
  userCreatedTopic: string;
  userCreatedTopicPartitions: number;
  consumerGroupId: string;
  /** user-created messages applied per database transaction. */
  consumerChunkSize: number;
  /** Partitions whose batches this process applies at the same time. */
  consumerPartitionsConcurrently: number;
  /** Balance requests over NATS accepted and not yet answered; beyond it the answer is `busy` at once. */
  balanceMaxPending: number;
  /** Balance requests read in one query. */
  balanceBatchMax: number;
  /** The balance responder's own connections (kept apart from the money operations' pool). */
  balanceDbPoolMax: number;
  /** Largest amount of one operation, as a decimal string ("1000000000.00"). */
  maxAmount: string;
  idempotencyTtlHours: number;
  idempotencyPurgeIntervalMs: number;
  httpBodyLimitBytes: number;
  /** Money operations per batch (one database transaction); 1 = one transaction per operation. */
  moneyBatchMax: number;
  /** Money batches running at once in this process. */
  moneyBatchesInFlight: number;
  /** Validated money operations allowed to wait for a batch; beyond it, 503 with Retry-After. */
  moneyQueueLimit: number;
  logLevel: string;
}

export const transactionServiceConfig = defineConfig<TransactionServiceConfig>({
  host: { env: 'HOST', schema: configFields.host() },
  port: { env: 'PORT', schema: configFields.port(3002) },
  operatorHost: { env: 'OPERATOR_HOST', schema: configFields.host() },
  operatorPort: { env: 'OPERATOR_PORT', schema: configFields.port(3102) },
  databaseUrl: {
    env: 'DATABASE_URL',
    schema: configFields.postgresUrl(localPostgresUrl('transaction_service', 'wallet_transactions')),
  },
  migrationDatabaseUrl: {
    env: 'MIGRATION_DATABASE_URL',
    schema: configFields.postgresUrl(localPostgresUrl('wallet_transactions_owner', 'wallet_transactions')),
  },
  dbPoolMax: { env: 'DB_POOL_MAX', schema: configFields.positiveInt(20) },
  dbStatementTimeoutMs: { env: 'DB_STATEMENT_TIMEOUT_MS', schema: configFields.statementTimeoutMs() },
  natsUrl: { env: 'NATS_URL', schema: configFields.natsUrl() },
  natsUser: { env: 'NATS_USER', schema: configFields.brokerUser('transaction-service') },
  natsPassword: { env: 'NATS_PASSWORD', schema: configFields.brokerPassword() },
  balanceSubject: { env: 'BALANCE_SUBJECT', schema: Joi.string().pattern(/^[A-Za-z0-9_.-]+$/).default(BALANCE_SUBJECT) },
  kafkaBrokers: { env: 'KAFKA_BROKERS', schema: configFields.kafkaBrokers() },
  kafkaUsername: { env: 'KAFKA_SASL_USERNAME', schema: configFields.brokerUser('transaction-service') },
  kafkaPassword: { env: 'KAFKA_SASL_PASSWORD', schema: configFields.brokerPassword() },
  kafkaSsl: { env: 'KAFKA_SSL', schema: Joi.boolean().default(false) },
  userCreatedTopic: { env: 'KAFKA_TOPIC_USER_CREATED', schema: Joi.string().pattern(/^[A-Za-z0-9._-]+$/).default(USER_CREATED_TOPIC) },
  userCreatedTopicPartitions: { env: 'KAFKA_TOPIC_PARTITIONS', schema: Joi.number().integer().min(1).max(1_000).default(6) },
  consumerGroupId: { env: 'KAFKA_CONSUMER_GROUP', schema: Joi.string().default('transaction-service') },
  consumerChunkSize: { env: 'KAFKA_CONSUMER_CHUNK_SIZE', schema: Joi.number().integer().min(1).max(5_000).default(500) },
  consumerPartitionsConcurrently: {
    env: 'KAFKA_CONSUMER_PARTITIONS_CONCURRENTLY',
    schema: Joi.number().integer().min(1).max(64).default(2),
  },
  balanceMaxPending: { env: 'BALANCE_MAX_PENDING', schema: Joi.number().integer().min(1).max(100_000).default(1_000) },
  balanceBatchMax: { env: 'BALANCE_BATCH_MAX', schema: Joi.number().integer().min(1).max(10_000).default(250) },
  balanceDbPoolMax: { env: 'BALANCE_DB_POOL_MAX', schema: Joi.number().integer().min(1).max(100).default(2) },
  // Exactly what a client amount may be (parseAmount's own rules, so > 0 too): a value the check
  // accepted must never fail later, at start-up.
  maxAmount: {
    env: 'MAX_AMOUNT',
    schema: Joi.string()
      .custom((value: string, helpers) => {
        try {
          parseAmount(value, { maxMinor: null });
          return value;
        } catch {
          return helpers.error('any.invalid');
        }
      })
      .messages({ 'any.invalid': '{{#label}} must be a positive decimal amount like 1000000000.00' })
      .default('1000000000.00'),
  },
  idempotencyTtlHours: { env: 'IDEMPOTENCY_TTL_HOURS', schema: Joi.number().integer().min(24).default(24) },
  idempotencyPurgeIntervalMs: { env: 'IDEMPOTENCY_PURGE_INTERVAL_MS', schema: configFields.positiveInt(3_600_000) },
  httpBodyLimitBytes: { env: 'HTTP_BODY_LIMIT_BYTES', schema: configFields.positiveInt(65_536) },
  moneyBatchMax: { env: 'MONEY_BATCH_MAX', schema: Joi.number().integer().min(1).max(10_000).default(500) },
  moneyBatchesInFlight: { env: 'MONEY_BATCHES_IN_FLIGHT', schema: Joi.number().integer().min(1).max(64).default(1) },
  moneyQueueLimit: { env: 'MONEY_QUEUE_LIMIT', schema: configFields.positiveInt(5_000) },
  logLevel: { env: 'LOG_LEVEL', schema: configFields.logLevel() },
});

export function loadTransactionServiceConfig(env: NodeJS.ProcessEnv = process.env): TransactionServiceConfig {
  return transactionServiceConfig.load(env);
}
