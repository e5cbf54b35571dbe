import { v7 as uuidv7 } from 'uuid';
import { createLogger, type Knex } from '@wallet/platform';
import { createTestDatabase, setupTestPipeline, teardownTestPipeline, uniqueName, type TestDatabase } from '../test-resources';
import { requestJson } from '../api-client';
import { serviceTestEnv, testConnection } from './service-env';
import { loadTransactionServiceConfig, startTransactionService, type RunningTransactionService } from '@wallet/transaction-service';

export interface TransactionServiceHarness {
  url: string;
  database: TestDatabase;
  env: Record<string, string>;
  /** A direct connection for assertions and fixtures (never used by the service under test). */
  db: Knex;
  service: RunningTransactionService;
  /** Inserts users as if their user-created events had arrived. */
  createUsers(count: number): Promise<string[]>;
  fund(userId: string, amount: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a real transaction-service in-process on its own database, NATS subject, Kafka topic and
 * consumer group, listening on a free port, so test files never interfere with each other. It logs
 * in with transaction-service's own credentials; like `make infra`, the harness first creates the
 * topic and grants the ACLs as the Kafka admin.
 */
export async function startTransactionServiceHarness(
  overrides: Record<string, string> = {},
): Promise<TransactionServiceHarness> {
  const database = await createTestDatabase('tx');
  const env: Record<string, string> = {
    ...(await serviceTestEnv('transaction-service', 'transaction_service', database)),
    OPERATOR_PORT: '0',
    KAFKA_TOPIC_USER_CREATED: uniqueName('test-user-created'),
    KAFKA_TOPIC_PARTITIONS: '1',
    KAFKA_CONSUMER_GROUP: uniqueName('test-tx'),
    ...overrides,
  };
  const config = loadTransactionServiceConfig(env);
  const pipeline = { topic: config.userCreatedTopic, group: config.consumerGroupId };
  await setupTestPipeline({ ...pipeline, partitions: config.userCreatedTopicPartitions });
  const logger = createLogger({ service: 'transaction-service', level: config.logLevel });
  const service = await startTransactionService(config, logger);
  const db = testConnection(database);

  return {
    url: service.url,
    database,
    env,
    db,
    service,
    async createUsers(count) {
      const ids = Array.from({ length: count }, () => uuidv7());
      await db('users').insert(ids.map((user_id) => ({ user_id, created_at: new Date() })));
      return ids;
    },
    async fund(userId, amount) {
      const response = await requestJson(`${service.url}/add-money`, { body: { user_id: userId, amount } });
      if (response.status !== 200) throw new Error(`funding failed: ${response.status} ${JSON.stringify(response.body)}`);
    },
    async stop() {
      await service.stop();
      await db.destroy();
      await database.drop();
      await teardownTestPipeline(pipeline);
    },
  };
}
