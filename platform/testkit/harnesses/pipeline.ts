import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createLogger, type Knex } from '@wallet/platform';
import {
  countRows,
  serviceCredentialsEnv,
  setupTestMoneyEvents,
  teardownTestMoneyEvents,
  testKafka,
  uniqueName,
  waitFor,
  type TestDatabase,
} from '../test-resources';
import { requestJson } from '../api-client';
import { REPO_ROOT } from '../repo-root';
import { runToCompletion, type CompletedProcess } from '../spawn-process';
import { startUserServiceHarness, type UserServiceHarness } from './user-service';
import { startTransactionServiceHarness, type TransactionServiceHarness } from './transaction-service';
import { loadOutboxRelayConfig, startOutboxRelay, type RunningOutboxRelay } from '@wallet/outbox-relay';

export { type UserServiceHarness, type TransactionServiceHarness };

/** user-service and transaction-service joined by one Kafka topic; relays are started by the tests. */
export interface Pipeline {
  users: UserServiceHarness;
  tx: TransactionServiceHarness;
  topic: string;
  /** The relay's own money-events topic (KAFKA_TOPIC_MONEY_EVENTS), readable with testMoneyEventsReader(). */
  moneyEventsTopic: string;
  /** The relay's environment for this pipeline (database, brokers, topic), for in-process or child relays. */
  relayEnv: Record<string, string>;
  startRelay(overrides?: Record<string, string>, database?: TestDatabase): Promise<RunningOutboxRelay>;
  stop(): Promise<void>;
}

export async function startPipeline(): Promise<Pipeline> {
  const topic = uniqueName('test-user-created');
  const moneyEventsTopic = uniqueName('test-money-events');
  // As `make infra` does for the real one: the relay has no Create permission.
  await setupTestMoneyEvents({ topic: moneyEventsTopic, partitions: 3 });
  const users = await startUserServiceHarness();
  const tx = await startTransactionServiceHarness({
    KAFKA_TOPIC_USER_CREATED: topic,
    KAFKA_TOPIC_PARTITIONS: '3',
    BALANCE_SUBJECT: users.env.BALANCE_SUBJECT!,
  });
  const relayEnv: Record<string, string> = {
    // The relay's own login: it may only read the outbox and mark rows published.
    DATABASE_URL: await users.database.urlAs('outbox_relay'),
    // ...and its own login in transaction-service's database: the money outbox (ADR 10).
    MONEY_EVENTS_DATABASE_URL: await tx.database.urlAs('outbox_relay'),
    ...serviceCredentialsEnv('outbox-relay'),
    KAFKA_TOPIC_USER_CREATED: topic,
    KAFKA_TOPIC_PARTITIONS: '3',
    KAFKA_TOPIC_MONEY_EVENTS: moneyEventsTopic,
    RELAY_POLL_INTERVAL_MS: '1000',
    RELAY_INITIAL_BACKOFF_MS: '100',
    RELAY_MAX_BACKOFF_MS: '1000',
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
  };
  const relays = new Set<RunningOutboxRelay>();
  return {
    users,
    tx,
    topic,
    moneyEventsTopic,
    relayEnv,
    async startRelay(overrides = {}, database) {
      const env = { ...relayEnv, ...(database ? { DATABASE_URL: await database.urlAs('outbox_relay') } : {}), ...overrides };
      const config = loadOutboxRelayConfig(env);
      const relay = await startOutboxRelay(config, createLogger({ service: 'outbox-relay', level: config.logLevel }));
      relays.add(relay);
      const stop = relay.stop.bind(relay);
      return {
        ...relay,
        stop: async () => {
          relays.delete(relay);
          await stop();
        },
      };
    },
    async stop() {
      await Promise.all([...relays].map((r) => r.stop()));
      await tx.stop();
      await users.stop();
      await teardownTestMoneyEvents({ topic: moneyEventsTopic });
    },
  };
}

export async function createUsers(userServiceUrl: string, count: number, prefix: string): Promise<string[]> {
  const responses = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      requestJson<{ user_id: string }>(`${userServiceUrl}/users`, { body: { email: `${prefix}-${i}@example.com` } }),
    ),
  );
  const failed = responses.filter((r) => r.status !== 201);
  if (failed.length > 0) throw new Error(`${failed.length} of ${count} POST /users failed: ${JSON.stringify(failed[0]?.body)}`);
  return responses.map((r) => r.body.user_id);
}

/** Waits until every id is a user in transaction-service, then checks each arrived exactly once. */
export async function waitForUsersInTransactionService(db: Knex, userIds: string[], timeoutMs = 20_000): Promise<void> {
  await waitFor(
    async () => ((await countRows(db, 'users', (q) => void q.whereIn('user_id', userIds))) === userIds.length ? true : undefined),
    { timeoutMs, intervalMs: 100, what: `${userIds.length} users in transaction-service` },
  );
}

/** How many messages the topic holds (sum of the partitions' high watermarks). */
export async function countTopicMessages(topic: string): Promise<number> {
  const kafka = testKafka('test-admin', 'admin');
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

const packageRoot = join(REPO_ROOT, 'outbox-relay');

/** The compiled relay as its own process (for tests that must kill it). */
export function spawnRelayProcess(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [join(packageRoot, 'dist', 'src', 'entry-points', 'main.js')], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** The compiled replay CLI, exactly as `make replay-outbox` runs it. */
export function runReplayCliProcess(args: string[], env: Record<string, string>): Promise<CompletedProcess> {
  const entry = join(packageRoot, 'dist', 'src', 'entry-points', 'replay-outbox.js');
  return runToCompletion(process.execPath, [entry, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
}
