import { join } from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { closeInOrder, type Knex } from '@wallet/platform';
import { createTestDatabase, setupTestPipeline, teardownTestPipeline, uniqueName } from '../test-resources';
import { requestJson } from '../api-client';
import { REPO_ROOT } from '../repo-root';
import { findFreePort, spawnNode, waitForHttp, type SpawnedProcess } from '../spawn-process';
import { serviceTestEnv, startServiceUnderTest, type ServiceUnderTest } from './service-env';
import { loadTransactionServiceConfig, startTransactionService, type RunningTransactionService } from '@wallet/transaction-service';

export interface TransactionServiceHarness extends ServiceUnderTest<RunningTransactionService> {
  /** Inserts users as if their user-created events had arrived. */
  createUsers(count: number): Promise<string[]>;
  fund(userId: string, amount: string): Promise<void>;
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
  const started = await startServiceUnderTest('transaction-service', startTransactionService, {
    config,
    env,
    database,
    cleanUp: closeInOrder(() => database.drop(), () => teardownTestPipeline(pipeline)),
  });
  const { db, url } = started;

  return {
    ...started,
    async createUsers(count) {
      const ids = Array.from({ length: count }, () => uuidv7());
      await db('users').insert(ids.map((user_id) => ({ user_id, created_at: new Date() })));
      return ids;
    },
    async fund(userId, amount) {
      const response = await requestJson(`${url}/add-money`, { body: { user_id: userId, amount } });
      if (response.status !== 200) throw new Error(`funding failed: ${response.status} ${JSON.stringify(response.body)}`);
    },
  };
}

/**
 * A new user with `entries` credits written straight into the ledger, 10 ms apart from `startMs`
 * (1.00 to 10.99 each), and the user's balance row to match: a long period in seconds, where the
 * API would take minutes. ANALYZEs the ledger after, so the planner sees its size.
 */
export async function seedCreditRun(db: Knex, user: string, startMs: number, entries: number): Promise<void> {
  await db.raw(
    `WITH u AS (INSERT INTO users (user_id, created_at) VALUES (:user, now()) RETURNING user_id)
     INSERT INTO transactions (id, user_id, type, kind, amount_minor, balance_after_minor, created_at, sequence)
     SELECT gen_random_uuid(), (SELECT user_id FROM u), 'credit', 'add_money', 100 + n % 1000,
            sum(100 + n % 1000) OVER (ORDER BY n), to_timestamp(:startMs / 1000.0) + n * interval '10 milliseconds', n
       FROM generate_series(1, :entries) AS n`,
    { user, startMs, entries },
  );
  await db.raw(
    `UPDATE users u SET balance_minor = t.balance_after_minor, last_sequence = t.sequence, last_entry_at = t.created_at
       FROM transactions t WHERE t.user_id = u.user_id AND u.user_id = :user AND t.sequence = :entries`,
    { user, entries },
  );
  await db.raw('ANALYZE transactions');
}

/**
 * The harness's transaction-service run again in a process of its own (so that its memory is all
 * its own), on a free port and in a consumer group named after `group`; `env` adds to or overrides
 * the harness's settings. Resolves once /healthz answers (within `timeoutMs`); the caller stops it.
 */
export async function spawnTransactionService(
  h: Pick<TransactionServiceHarness, 'env'>,
  group: string,
  options: { env?: Record<string, string>; nodeArgs?: string[]; timeoutMs?: number } = {},
): Promise<{ url: string; child: SpawnedProcess }> {
  const port = await findFreePort();
  const env = { ...h.env, PORT: String(port), OPERATOR_PORT: '0', LOG_LEVEL: 'warn', KAFKA_CONSUMER_GROUP: uniqueName(group), ...options.env };
  const child = spawnNode(join(REPO_ROOT, 'transaction-service/dist/src/entry-points/main.js'), env, options.nodeArgs);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/healthz`, options.timeoutMs ?? 60_000, child);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return { url, child };
}
