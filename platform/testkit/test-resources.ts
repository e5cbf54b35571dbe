import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import pg from 'pg';
import {
  dropDatabase,
  ensureDatabaseExists,
  LOCAL_KAFKA_BROKERS,
  LOCAL_NATS_URL,
  localPostgresUrl,
  MONEY_EVENTS_GROUP_PREFIX,
  natsCredentials,
  sqlState,
  type Knex,
} from '@wallet/platform';
import { REPO_ROOT } from './repo-root';

/** Server the integration tests use; each test file gets its own databases and topics on it. */
export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? localPostgresUrl('postgres', 'postgres');
// The project's own authenticated brokers (platform/tools/infra/infra.sh), same port variables.
export const TEST_KAFKA_BROKERS =
  process.env.KAFKA_BROKERS ?? (process.env.KAFKA_PORT ? `127.0.0.1:${process.env.KAFKA_PORT}` : LOCAL_KAFKA_BROKERS);
export const TEST_NATS_URL = process.env.NATS_URL ?? (process.env.NATS_PORT ? `nats://127.0.0.1:${process.env.NATS_PORT}` : LOCAL_NATS_URL);

const CREDENTIALS_SCRIPT = join(REPO_ROOT, 'platform', 'tools', 'infra', 'credentials.sh');

let credentials: Record<string, string> | undefined;

/**
 * The broker credentials of this checkout: the generated .credentials.env (created by
 * platform/tools/infra/credentials.sh when missing, as `make infra` does), read like a shell would.
 */
export function testCredentials(): Record<string, string> {
  if (credentials) return credentials;
  execFileSync('bash', [CREDENTIALS_SCRIPT, 'ensure'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const file = execFileSync('bash', [CREDENTIALS_SCRIPT, 'path'], { encoding: 'utf8' }).trim();
  credentials = Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .map((line) => /^([A-Z0-9_]+)=(\S+)$/.exec(line.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1] ?? '', m[2] ?? '']),
  );
  return credentials;
}

function credential(name: string): string {
  const value = testCredentials()[name];
  if (!value) throw new Error(`${name} is missing from the credentials file (run platform/tools/infra/credentials.sh ensure)`);
  return value;
}

export type NatsUser = 'user-service' | 'transaction-service';
/** The Kafka principals; money-events-reader is no service's: it is the downstream consumers' read-only login. */
export type KafkaUser = 'admin' | 'outbox-relay' | 'transaction-service' | 'money-events-reader';

const NATS_PASSWORD_VARIABLE: Record<NatsUser, string> = {
  'user-service': 'NATS_USER_SERVICE_PASSWORD',
  'transaction-service': 'NATS_TRANSACTION_SERVICE_PASSWORD',
};
const KAFKA_PASSWORD_VARIABLE: Record<KafkaUser, string> = {
  admin: 'KAFKA_ADMIN_PASSWORD',
  'outbox-relay': 'KAFKA_OUTBOX_RELAY_PASSWORD',
  'transaction-service': 'KAFKA_TRANSACTION_SERVICE_PASSWORD',
  'money-events-reader': 'KAFKA_MONEY_EVENTS_READER_PASSWORD',
};

/** nats.js connect options that log in as one of the services (with its own inbox prefix). */
export function testNatsLogin(user: NatsUser): { user?: string; pass?: string; inboxPrefix?: string } {
  return natsCredentials(user, credential(NATS_PASSWORD_VARIABLE[user]));
}

/** kafkajs `sasl` for one of the Kafka principals. */
export function testKafkaSasl(user: KafkaUser): SASLOptions {
  return { mechanism: 'scram-sha-512', username: user, password: credential(KAFKA_PASSWORD_VARIABLE[user]) };
}

/** The credential settings a service process reads (the same variables run.sh and compose set). */
export function serviceCredentialsEnv(service: 'user-service' | 'transaction-service' | 'outbox-relay'): Record<string, string> {
  switch (service) {
    case 'user-service':
      return { NATS_URL: TEST_NATS_URL, NATS_PASSWORD: credential('NATS_USER_SERVICE_PASSWORD') };
    case 'transaction-service':
      return {
        NATS_URL: TEST_NATS_URL,
        NATS_PASSWORD: credential('NATS_TRANSACTION_SERVICE_PASSWORD'),
        KAFKA_BROKERS: TEST_KAFKA_BROKERS,
        KAFKA_SASL_PASSWORD: credential('KAFKA_TRANSACTION_SERVICE_PASSWORD'),
      };
    case 'outbox-relay':
      return { KAFKA_BROKERS: TEST_KAFKA_BROKERS, KAFKA_SASL_PASSWORD: credential('KAFKA_OUTBOX_RELAY_PASSWORD') };
  }
}

/** A Kafka client for tests, logged in as `user` (the admin only where a test plays the operator). */
export function testKafka(clientId: string, user: KafkaUser): Kafka {
  return new Kafka({ clientId, brokers: TEST_KAFKA_BROKERS.split(','), sasl: testKafkaSasl(user), logLevel: logLevel.NOTHING });
}

interface KafkaSetupModule {
  setupPipeline(options: { topic: string; partitions: number; group: string; brokers: string; password: string }): Promise<void>;
  teardownPipeline(options: { topic: string; group: string; brokers: string; password: string }): Promise<void>;
  setupMoneyEvents(options: { topic: string; partitions: number; brokers: string; password: string }): Promise<void>;
  teardownMoneyEvents(options: { topic: string; brokers: string; password: string }): Promise<void>;
}

/** The infrastructure step's own code (platform/tools/infra/kafka-setup.mjs), not a copy of it. */
async function kafkaSetup(): Promise<KafkaSetupModule> {
  return (await import(pathToFileURL(join(REPO_ROOT, 'platform', 'tools', 'infra', 'kafka-setup.mjs')).href)) as KafkaSetupModule;
}

/**
 * What `make infra` does for user-created, for a test's own topic and group: the admin creates the
 * topic and grants outbox-relay WRITE and transaction-service READ with `group` (the services hold
 * no Create permission, so they need it done before they start).
 */
export async function setupTestPipeline(options: { topic: string; partitions: number; group: string }): Promise<void> {
  await (await kafkaSetup()).setupPipeline({ ...options, brokers: TEST_KAFKA_BROKERS, password: credential('KAFKA_ADMIN_PASSWORD') });
}

/** Deletes a test's topic and its ACLs. */
export async function teardownTestPipeline(options: { topic: string; group: string }): Promise<void> {
  await (await kafkaSetup()).teardownPipeline({ ...options, brokers: TEST_KAFKA_BROKERS, password: credential('KAFKA_ADMIN_PASSWORD') });
}

/**
 * What `make infra` does for money-events, for a test's own topic: the admin creates it and grants
 * outbox-relay WRITE and money-events-reader READ, with any consumer group starting with
 * `money-events-` (testMoneyEventsGroup() names one). Name the topic with uniqueName(...).
 */
export async function setupTestMoneyEvents(options: { topic: string; partitions: number }): Promise<void> {
  await (await kafkaSetup()).setupMoneyEvents({ ...options, brokers: TEST_KAFKA_BROKERS, password: credential('KAFKA_ADMIN_PASSWORD') });
}

/** Deletes a test's money-events topic and its ACLs (the reader's group prefix is shared and stays). */
export async function teardownTestMoneyEvents(options: { topic: string }): Promise<void> {
  await (await kafkaSetup()).teardownMoneyEvents({ ...options, brokers: TEST_KAFKA_BROKERS, password: credential('KAFKA_ADMIN_PASSWORD') });
}

/** A kafkajs client logged in as money-events-reader: it may only consume money-events topics. */
export function testMoneyEventsReader(clientId = 'test-money-events-reader'): Kafka {
  return testKafka(clientId, 'money-events-reader');
}

/** A consumer group of a test's own that money-events-reader may use (its name starts with `money-events-`). */
export function testMoneyEventsGroup(): string {
  return uniqueName(`${MONEY_EVENTS_GROUP_PREFIX}test`);
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export interface TestDatabase {
  /** As the superuser: for migrations, fixtures and assertions. */
  url: string;
  /** The same database as a service's own login (see serviceLoginUrl). */
  urlAs(role: ServiceRole): Promise<string>;
  drop: () => Promise<void>;
}

/** The processes' own database logins, as db/init creates them (db/README.md). */
export type ServiceRole = 'user_service' | 'transaction_service' | 'outbox_relay';

/**
 * Makes sure a service's login role exists on the test server, exactly as db/init/01 sets it up
 * (idempotent, and safe when several test files or `make infra` do it at once: roles are
 * cluster-wide). Its privileges on a test database come from the services' own migrations, so the
 * tests run the services with the same least privilege as a real deployment.
 */
async function ensureServiceRole(role: ServiceRole): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
    if (found.rowCount === 0) {
      await client.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`).catch((error: unknown) => {
        // 42710 duplicate_object / 23505: created by someone else between the check and the create.
        const code = sqlState(error);
        if (code !== '42710' && code !== '23505') throw error;
      });
    }
  } finally {
    await client.end();
  }
}

/**
 * `databaseUrl` (a superuser's URL on the test server) as the service's own login, which is created
 * first when missing. The test server trusts loopback logins, like `make infra`'s: no password.
 */
export async function serviceLoginUrl(databaseUrl: string, role: ServiceRole): Promise<string> {
  await ensureServiceRole(role);
  const login = new URL(databaseUrl);
  login.username = role;
  login.password = '';
  return login.toString();
}

/** A fresh, empty database for one test file, so test files never see each other's rows. */
export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${uniqueName(prefix)}`;
  await ensureDatabaseExists(url.toString());
  return {
    url: url.toString(),
    urlAs: (role) => serviceLoginUrl(url.toString(), role),
    drop: () => dropDatabase(url.toString()),
  };
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  { timeoutMs = 15_000, intervalMs = 50, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
}

/** Test topics are per file; deleting them keeps the shared broker from filling up. */
export async function deleteTestTopic(topic: string): Promise<void> {
  const admin = testKafka('test-cleanup', 'admin').admin();
  try {
    await admin.connect();
    await admin.deleteTopics({ topics: [topic], timeout: 5_000 });
  } catch {
    // Already gone, or never created: nothing to clean.
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** How many rows a table holds (optionally narrowed by `build`), for assertions on a service's database. */
export async function countRows(db: Knex, table: string, build?: (q: Knex.QueryBuilder) => void): Promise<number> {
  const query = db(table);
  build?.(query);
  const row = (await query.count<{ count: string }[]>('* as count'))[0];
  return Number(row?.count);
}
