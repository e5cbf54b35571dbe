import type { Server } from 'node:http';
import {
  checkDatabase,
  checkKafka,
  checkNats,
  closeNats,
  closeServer,
  createKafkaFromSettings,
  createKnex,
  createOperatorApp,
  createStopOnce,
  listenOn,
  openServiceResources,
  serveHttp,
  type Knex,
  type Listening,
  type Logger,
  type MetricsRegistry,
  type ReadinessCheck,
  type ShutdownStep,
} from '@wallet/platform';
import type { TransactionServiceConfig } from './config';
import * as walletSchema from './data-access/migrations/001-create-wallet-schema';
import { createWalletRouter } from './entry-points/http/create-wallet-router';
import { createOperatorRouter } from './entry-points/operator/create-operator-router';
import { openApiDocument } from './entry-points/http/openapi';
import { startUserCreatedConsumer } from './entry-points/kafka/consume-user-created';
import { startBalanceResponder } from './start-balance-responder';
import { startIdempotencyKeyPurge } from './domain/purge-idempotency-keys';
import { WalletQueries } from './domain/wallet-queries';
import { StatementQueries } from './domain/statements';
import { createReadAtInstantPool } from './data-access/wallet-read-view';
import { MoneyEngine } from './domain/transfers/money-engine';
import { connectionPerAttemptSettler } from './data-access/money-transaction';
import { presentMoneyResult } from './entry-points/http/money-presenter';
import { startReconcileSchedule, type ReconcileRunner } from './domain/reconcile-schedule';
import { startHoldSweeper } from './domain/release-expired-holds';
import { parseAmount } from './domain/money';

export interface RunningTransactionService {
  server: Server;
  url: string;
  /** The operators' listener (GET /internal/reconcile), on the loopback unless configured otherwise. */
  operatorServer: Server;
  operatorUrl: string;
  stop(): Promise<void>;
}

/**
 * Composition root: builds every dependency once and wires them. Start-up fails fast (and the
 * process exits 1) when PostgreSQL or NATS is unreachable; Kafka may come later: the consumer
 * retries on its own while money keeps moving.
 */
export async function startTransactionService(
  config: TransactionServiceConfig,
  logger: Logger,
): Promise<RunningTransactionService> {
  const { knex, metrics, nats } = await openServiceResources('transaction-service', config, { schema: walletSchema, logger });
  const { money, moneyKnex } = startMoneyEngine(config, { logger, metrics });
  const balanceResponder = await startBalanceResponder(config, { nats, logger, metrics });

  const kafka = createKafkaFromSettings(config, 'transaction-service', logger);
  const consumer = await startUserCreatedConsumer({
    kafka,
    knex,
    logger,
    metrics,
    topic: config.userCreatedTopic,
    topicPartitions: config.userCreatedTopicPartitions,
    groupId: config.consumerGroupId,
    chunkSize: config.consumerChunkSize,
    partitionsConsumedConcurrently: config.consumerPartitionsConcurrently,
    maxBackoffMs: config.consumerMaxBackoffMs,
    maxWaitTimeMs: config.consumerMaxWaitMs,
  });

  const purge = startIdempotencyKeyPurge({ knex, logger, ttlHours: config.idempotencyTtlHours, intervalMs: config.idempotencyPurgeIntervalMs });
  const reconcile = startReconcileSchedule({ knex, logger, metrics, intervalMs: config.reconcileIntervalMs });
  const sweeper = startHoldSweeper({ knex, money, logger, metrics, intervalMs: config.holdSweepIntervalMs, roundLimit: config.holdSweepRoundLimit });

  const readinessChecks = {
    postgres: () => checkDatabase(knex),
    nats: () => checkNats(nats),
    kafka: () => checkKafka(kafka),
    'kafka-consumer': () => consumer.check(),
  };
  const asOfKnex = createReadAtInstantPool({
    url: config.databaseUrl,
    poolMax: config.asOfDbPoolMax,
    applicationName: 'transaction-service-as-of',
    statementTimeoutMs: config.dbStatementTimeoutMs,
    lockTimeoutMs: config.asOfLockTimeoutMs,
  });
  const statements = new StatementQueries(asOfKnex, { settleMs: config.asOfSettleMs });
  const queries = new WalletQueries(knex, asOfKnex);
  const { http, operator } = await startHttp(config, { logger, metrics, money, queries, statements, readinessChecks, reconcile });

  const steps: ShutdownStep[] = [
    { name: 'http', run: () => closeServer(http.server) },
    { name: 'operator-http', run: () => closeServer(operator.server) },
    { name: 'hold-sweeper', run: () => sweeper.stop() },
    { name: 'money-engine', run: () => money.stop() },
    { name: 'nats-responder', run: () => balanceResponder.stop() },
    { name: 'kafka-consumer', run: () => consumer.stop() },
    { name: 'idempotency-purge', run: () => purge.stop() },
    { name: 'reconcile-schedule', run: () => reconcile.stop() },
    { name: 'nats', run: () => closeNats(nats) },
    { name: 'postgres', run: () => Promise.all([knex.destroy(), moneyKnex.destroy(), asOfKnex.destroy()]).then(() => undefined) },
  ];
  return {
    server: http.server,
    url: http.url,
    operatorServer: operator.server,
    operatorUrl: operator.url,
    stop: createStopOnce(logger, steps),
  };
}

/** Beyond the server-side timeouts, what the client-side deadlines allow for connecting and round trips. */
const SETTLE_ATTEMPT_MARGIN_MS = 5_000;
const BATCH_DEADLINE_MARGIN_MS = 5_000;
/** No engine transaction idles between its statements for more than milliseconds. */
const MONEY_IDLE_IN_TRANSACTION_TIMEOUT_MS = 15_000;

/**
 * The money engine has connections of its own, so batches never wait behind HTTP reads, each with
 * a lock_timeout so one held row cannot stall them; and a separate small pool settles COMMITs
 * whose reply was lost, so settling never waits for (or blocks) a batch slot.
 */
function startMoneyEngine(
  config: TransactionServiceConfig,
  deps: { logger: Logger; metrics: MetricsRegistry },
): { money: MoneyEngine; moneyKnex: Knex } {
  const moneyKnex = createKnex({
    url: config.databaseUrl,
    poolMax: config.moneyBatchesInFlight + 1,
    applicationName: 'transaction-service-money',
    statementTimeoutMs: config.dbStatementTimeoutMs,
    lockTimeoutMs: config.moneyLockTimeoutMs,
    // A batch's backend orphaned by a half-open connection releases its row locks by itself.
    idleInTransactionTimeoutMs: MONEY_IDLE_IN_TRANSACTION_TIMEOUT_MS,
  });
  const settler = connectionPerAttemptSettler({
    url: config.databaseUrl,
    applicationName: 'transaction-service-settle',
    lockTimeoutMs: config.moneyLockTimeoutMs,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    attemptTimeoutMs: config.moneyLockTimeoutMs + SETTLE_ATTEMPT_MARGIN_MS,
  });
  const money = new MoneyEngine({
    knex: moneyKnex,
    settler,
    batchDeadlineMs: config.dbStatementTimeoutMs + BATCH_DEADLINE_MARGIN_MS,
    lockTimeoutMs: config.moneyLockTimeoutMs,
    maxLockRetries: config.moneyLockRetries,
    commitTimeoutMs: config.moneyCommitTimeoutMs,
    present: presentMoneyResult,
    logger: deps.logger,
    metrics: deps.metrics,
    maxBatchSize: config.moneyBatchMax,
    maxBatchesInFlight: config.moneyBatchesInFlight,
    queueLimit: config.moneyQueueLimit,
  });
  return { money, moneyKnex };
}

/** The public listener (the wallet API) and the operators' one (GET /internal/reconcile). */
async function startHttp(
  config: TransactionServiceConfig,
  deps: {
    logger: Logger;
    metrics: MetricsRegistry;
    money: MoneyEngine;
    queries: WalletQueries;
    statements: StatementQueries;
    readinessChecks: Record<string, ReadinessCheck>;
    reconcile: ReconcileRunner;
  },
): Promise<{ http: Listening; operator: Listening }> {
  const { logger } = deps;
  const http = await serveHttp(config, {
    logger,
    metrics: deps.metrics,
    router: createWalletRouter({
      money: deps.money,
      queries: deps.queries,
      statements: deps.statements,
      maxAmountMinor: parseAmount(config.maxAmount, { maxMinor: null }),
      batchMaxOperations: config.batchMaxOperations,
      logger,
    }),
    readinessChecks: deps.readinessChecks,
    pathBodyLimits: { '/batch': config.batchBodyLimitBytes },
    openApiDocument,
  });
  const operator = await listenOn(
    createOperatorApp({ logger, router: createOperatorRouter({ reconcile: () => deps.reconcile.run() }) }),
    { host: config.operatorHost, port: config.operatorPort },
  );
  logger.info({ host: config.host, port: http.port, operatorHost: config.operatorHost, operatorPort: operator.port }, 'transaction-service listening');
  return { http, operator };
}
