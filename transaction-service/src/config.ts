import Joi from 'joi';
import { apiServiceSettings, configFields, defineConfig, userCreatedKafkaSettings, type ConfigOf } from '@wallet/platform';
import { parseAmount } from './domain/money';

export const transactionServiceConfig = defineConfig({
  // Its own login may only run the DML it needs; the ledger is insert-only (see db/README.md). Its
  // NATS login may answer balance requests in its queue group, and publish nothing else.
  ...apiServiceSettings('transaction-service', {
    port: 3002,
    database: { role: 'transaction_service', ownerRole: 'wallet_transactions_owner', database: 'wallet_transactions', poolMax: 20 },
  }),
  /** The operators' listener (GET /internal/reconcile): loopback only unless told otherwise. */
  operatorHost: { env: 'OPERATOR_HOST', schema: configFields.host() },
  operatorPort: { env: 'OPERATOR_PORT', schema: configFields.port(3102) },
  // Its Kafka principal may read the user-created topic with its group only.
  ...userCreatedKafkaSettings('transaction-service'),
  consumerGroupId: { env: 'KAFKA_CONSUMER_GROUP', schema: Joi.string().default('transaction-service') },
  /** user-created messages applied per database transaction. */
  consumerChunkSize: { env: 'KAFKA_CONSUMER_CHUNK_SIZE', schema: Joi.number().integer().min(1).max(5_000).default(500) },
  /** Partitions whose batches this process applies at the same time. */
  consumerPartitionsConcurrently: {
    env: 'KAFKA_CONSUMER_PARTITIONS_CONCURRENTLY',
    schema: Joi.number().integer().min(1).max(64).default(2),
  },
  /** Cap of the consumer's backoff between retries while the database or Kafka is away. */
  consumerMaxBackoffMs: { env: 'KAFKA_CONSUMER_MAX_BACKOFF_MS', schema: configFields.positiveInt(5_000) },
  /**
   * How long an idle fetch waits at the broker. A stop waits for the fetch in flight, so this bounds
   * a graceful shutdown's wait on Kafka; a new message ends the wait at once, whatever the setting.
   */
  consumerMaxWaitMs: { env: 'KAFKA_CONSUMER_MAX_WAIT_MS', schema: Joi.number().integer().min(10).max(30_000).default(1_000) },
  /** Balance requests over NATS accepted and not yet answered; beyond it the answer is `busy` at once. */
  balanceMaxPending: { env: 'BALANCE_MAX_PENDING', schema: Joi.number().integer().min(1).max(100_000).default(1_000) },
  /** Balance requests read in one query. */
  balanceBatchMax: { env: 'BALANCE_BATCH_MAX', schema: Joi.number().integer().min(1).max(10_000).default(250) },
  /** The balance responder's own connections (kept apart from the money operations' pool). */
  balanceDbPoolMax: { env: 'BALANCE_DB_POOL_MAX', schema: Joi.number().integer().min(1).max(100).default(2) },
  /** A balance read is one indexed lookup per id: one stuck for seconds is better answered as an error. */
  balanceDbStatementTimeoutMs: { env: 'BALANCE_DB_STATEMENT_TIMEOUT_MS', schema: configFields.statementTimeoutMs(5_000) },
  /**
   * Largest amount of one operation, as a decimal string ("1000000000.00"). Checked with exactly
   * what a client amount may be (parseAmount's own rules, so > 0 too): a value the check accepted
   * must never fail later, at start-up.
   */
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
  /** A scheduled reconciliation (its result is exported for the alert rules) every this long; 0: never. */
  reconcileIntervalMs: { env: 'RECONCILE_INTERVAL_MS', schema: Joi.number().integer().min(0).default(3_600_000) },
  /** The expired-hold sweeper's pause between rounds (ADR 12); 0 turns it off (correctness never needs it). */
  holdSweepIntervalMs: { env: 'HOLD_SWEEP_INTERVAL_MS', schema: Joi.number().integer().min(0).max(60_000).default(200) },
  /** Expired holds one sweeper round releases at most. */
  holdSweepRoundLimit: { env: 'HOLD_SWEEP_ROUND_LIMIT', schema: Joi.number().integer().min(1).max(100_000).default(2_000) },
  /**
   * POST /batch: operations in one request (each is queued like a single request, so a batch never
   * holds more than this of MONEY_QUEUE_LIMIT), and its own body limit (a thousand operations are ~250 KiB).
   */
  batchMaxOperations: { env: 'BATCH_MAX_OPERATIONS', schema: Joi.number().integer().min(1).max(10_000).default(1_000) },
  batchBodyLimitBytes: { env: 'BATCH_BODY_LIMIT_BYTES', schema: Joi.number().integer().min(1_024).max(16_777_216).default(1_048_576) },
  /** Money operations per batch (one database transaction); 1 = one transaction per operation. */
  moneyBatchMax: { env: 'MONEY_BATCH_MAX', schema: Joi.number().integer().min(1).max(10_000).default(500) },
  /** Money batches running at once in this process. */
  moneyBatchesInFlight: { env: 'MONEY_BATCHES_IN_FLIGHT', schema: Joi.number().integer().min(1).max(64).default(1) },
  /**
   * How long a money batch waits for one row lock (PostgreSQL lock_timeout on the engine's
   * connections) before it re-runs skipping held rows; also the wait of an item set aside. Measured:
   * BENCHMARKS.md, "Row locks held elsewhere".
   */
  moneyLockTimeoutMs: { env: 'MONEY_LOCK_TIMEOUT_MS', schema: Joi.number().integer().min(50).max(60_000).default(1_000) },
  /**
   * A COMMIT with no reply within this long is treated as lost and settled from the batch marker,
   * so a connection that silently stops answering cannot hold the engine's batch slot.
   */
  moneyCommitTimeoutMs: { env: 'MONEY_COMMIT_TIMEOUT_MS', schema: Joi.number().integer().min(100).max(600_000).default(5_000) },
  /** Times an operation is set aside on a row held elsewhere before it is answered 503 (retry with its key). */
  moneyLockRetries: { env: 'MONEY_LOCK_RETRIES', schema: Joi.number().integer().min(0).max(100).default(2) },
  /** Validated money operations allowed to wait for a batch; beyond it, 503 with Retry-After. */
  moneyQueueLimit: { env: 'MONEY_QUEUE_LIMIT', schema: configFields.positiveInt(5_000) },
  /**
   * Balances at an instant and statements (ADR 11): an instant less than this far in the past is
   * answered 400 as_of_not_settled; it covers the clock skew between the processes that write the
   * ledger and the one that reads it. At most 5 s (the promise: every instant 5 s old is answered).
   */
  asOfSettleMs: { env: 'AS_OF_SETTLE_MS', schema: Joi.number().integer().min(0).max(5_000).default(500) },
  /**
   * How long a read at an instant waits for a money batch holding the user's row (it must see that
   * batch's outcome first); past it, 503 with Retry-After.
   */
  asOfLockTimeoutMs: { env: 'AS_OF_LOCK_TIMEOUT_MS', schema: Joi.number().integer().min(50).max(60_000).default(2_000) },
  /** The connections of HTTP reads at an instant and statements (their own pool: its sessions are set up for the wait). */
  asOfDbPoolMax: { env: 'AS_OF_DB_POOL_MAX', schema: Joi.number().integer().min(1).max(100).default(10) },
});

export type TransactionServiceConfig = ConfigOf<typeof transactionServiceConfig>;

/** Reads and validates the environment (process.env by default); throws ConfigError listing every problem. */
export const loadTransactionServiceConfig = transactionServiceConfig.load;
