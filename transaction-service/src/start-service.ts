import type { Server } from 'node:http';
import {
  checkDatabase,
  checkKafka,
  checkNats,
  closeNats,
  closeServer,
  connectNatsFromSettings,
  createApiDocsRouter,
  createHttpApp,
  createKafkaFromSettings,
  createKnex,
  createKnexFromSettings,
  createMetricsRegistry,
  createOperatorApp,
  createStopOnce,
  listenOn,
  migrateServiceSchema,
  registerPoolMetrics,
  type Knex,
  type Logger,
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
import { MoneyEngine } from './domain/transfers/money-engine';
import { presentMoneyResult } from './entry-points/http/money-presenter';
import { reconcileBalances } from './domain/reconcile-balances';
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
  await migrateServiceSchema({ service: 'transaction-service', migrationDatabaseUrl: config.migrationDatabaseUrl, schema: walletSchema, logger });
  const knex = createKnexFromSettings(config, 'transaction-service');

  const metrics = createMetricsRegistry('transaction-service');
  registerPoolMetrics(knex, metrics);
  const wallet = new WalletQueries(knex);
  const { moneyKnex, settleKnex } = createMoneyPools(config);
  const money = new MoneyEngine({
    knex: moneyKnex,
    settleKnex,
    lockTimeoutMs: config.moneyLockTimeoutMs,
    maxLockRetries: config.moneyLockRetries,
    commitTimeoutMs: config.moneyCommitTimeoutMs,
    present: presentMoneyResult,
    logger,
    metrics,
    maxBatchSize: config.moneyBatchMax,
    maxBatchesInFlight: config.moneyBatchesInFlight,
    queueLimit: config.moneyQueueLimit,
  });

  const nats = await connectNatsFromSettings(config, 'transaction-service', logger);
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
  });

  const purge = startIdempotencyKeyPurge({
    knex,
    logger,
    ttlHours: config.idempotencyTtlHours,
    intervalMs: config.idempotencyPurgeIntervalMs,
  });

  const app = createHttpApp({
    logger,
    metrics,
    router: createWalletRouter({ money, queries: wallet, maxAmountMinor: parseAmount(config.maxAmount, { maxMinor: null }) }),
    readinessChecks: {
      postgres: () => checkDatabase(knex),
      nats: () => checkNats(nats),
      kafka: () => checkKafka(kafka),
      'kafka-consumer': () => consumer.check(),
    },
    bodyLimitBytes: config.httpBodyLimitBytes,
    apiDocs: createApiDocsRouter(openApiDocument),
  });
  const { server, port, url } = await listenOn(app, config);
  const operator = await listenOn(
    createOperatorApp({ logger, router: createOperatorRouter({ reconcile: () => reconcileBalances(knex) }) }),
    { host: config.operatorHost, port: config.operatorPort },
  );
  const { server: operatorServer, port: operatorPort } = operator;
  logger.info({ host: config.host, port, operatorHost: config.operatorHost, operatorPort }, 'transaction-service listening');

  const steps: ShutdownStep[] = [
    { name: 'http', run: () => closeServer(server) },
    { name: 'operator-http', run: () => closeServer(operatorServer) },
    { name: 'money-engine', run: () => money.stop() },
    { name: 'nats-responder', run: () => balanceResponder.stop() },
    { name: 'kafka-consumer', run: () => consumer.stop() },
    { name: 'idempotency-purge', run: () => purge.stop() },
    { name: 'nats', run: () => closeNats(nats) },
    { name: 'postgres', run: () => Promise.all([knex.destroy(), moneyKnex.destroy(), settleKnex.destroy()]).then(() => undefined) },
  ];
  return {
    server,
    url,
    operatorServer,
    operatorUrl: operator.url,
    stop: createStopOnce(logger, steps),
  };
}

/**
 * The money engine has connections of its own, so batches never wait behind HTTP reads, each with
 * a lock_timeout so one held row cannot stall them; and a separate small pool settles COMMITs
 * whose reply was lost, so settling never waits for (or blocks) a batch slot.
 */
function createMoneyPools(config: TransactionServiceConfig): { moneyKnex: Knex; settleKnex: Knex } {
  const common = { url: config.databaseUrl, statementTimeoutMs: config.dbStatementTimeoutMs, lockTimeoutMs: config.moneyLockTimeoutMs };
  return {
    moneyKnex: createKnex({ ...common, poolMax: config.moneyBatchesInFlight + 1, applicationName: 'transaction-service-money' }),
    settleKnex: createKnex({ ...common, poolMax: 2, applicationName: 'transaction-service-settle', acquireTimeoutMs: 5_000 }),
  };
}
