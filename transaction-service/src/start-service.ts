import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  checkDatabase,
  checkKafka,
  checkNats,
  closeNats,
  closeServer,
  connectNats,
  createApiDocsRouter,
  createHttpApp,
  createKafka,
  createKnex,
  createMetricsRegistry,
  createStopOnce,
  ensureDatabaseExists,
  listen,
  migrateExclusively,
  registerPoolMetrics,
  splitBrokers,
  type Logger,
  type ShutdownStep,
} from '@wallet/platform';
import type { TransactionServiceConfig } from './config';
import { migrations, MIGRATION_LOCK_KEY } from './data-access/migrations/001-create-wallet-schema';
import { createWalletRouter } from './entry-points/http/create-wallet-router';
import { openApiDocument } from './entry-points/http/openapi';
import { startUserCreatedConsumer } from './entry-points/kafka/consume-user-created';
import { startBalanceResponder } from './start-balance-responder';
import { startIdempotencyKeyPurge } from './domain/purge-idempotency-keys';
import { WalletService } from './domain/wallet-service';
import { reconcileBalances } from './domain/reconcile-balances';
import { parseAmount } from './domain/money';

export interface RunningTransactionService {
  server: Server;
  url: string;
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
  await ensureDatabaseExists(config.databaseUrl);
  const knex = createKnex({
    url: config.databaseUrl,
    poolMax: config.dbPoolMax,
    applicationName: 'transaction-service',
    statementTimeoutMs: 30_000,
  });
  const applied = await migrateExclusively(knex, config.databaseUrl, migrations, MIGRATION_LOCK_KEY);
  if (applied.length > 0) logger.info({ applied }, 'migrations applied');

  const metrics = createMetricsRegistry('transaction-service');
  registerPoolMetrics(knex, metrics);
  const wallet = new WalletService(knex, {
    maxAmountMinor: parseAmount(config.maxAmount, { maxMinor: null }),
    logger,
    metrics,
  });

  const nats = await connectNats({ url: config.natsUrl, name: 'transaction-service', logger });
  const balanceResponder = await startBalanceResponder(config, { nats, logger, metrics });

  const kafka = createKafka({ clientId: 'transaction-service', brokers: splitBrokers(config.kafkaBrokers), logger });
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
    router: createWalletRouter(wallet, { reconcile: () => reconcileBalances(knex) }),
    readinessChecks: {
      postgres: () => checkDatabase(knex),
      nats: () => checkNats(nats),
      kafka: () => checkKafka(kafka),
      'kafka-consumer': () => consumer.check(),
    },
    bodyLimitBytes: config.httpBodyLimitBytes,
    apiDocs: createApiDocsRouter(openApiDocument),
  });
  const server = await listen(app, config.port);
  const { port } = server.address() as AddressInfo;
  logger.info({ port }, 'transaction-service listening');

  const steps: ShutdownStep[] = [
    { name: 'http', run: () => closeServer(server) },
    { name: 'nats-responder', run: () => balanceResponder.stop() },
    { name: 'kafka-consumer', run: () => consumer.stop() },
    { name: 'idempotency-purge', run: () => purge.stop() },
    { name: 'nats', run: () => closeNats(nats) },
    { name: 'postgres', run: () => knex.destroy() },
  ];
  return { server, url: `http://127.0.0.1:${port}`, stop: createStopOnce(logger, steps) };
}
