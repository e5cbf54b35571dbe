import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { dropDatabase, ensureDatabaseExists } from '../db/create-knex';
import { sqlState } from '../errors/error-fields';
import { LOCAL_KAFKA_BROKERS, LOCAL_NATS_URL, localPostgresUrl } from '../config/local-infrastructure';

/** Server the integration tests use; each test file gets its own databases and topics on it. */
export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? localPostgresUrl('postgres', 'postgres');
export const TEST_KAFKA_BROKERS = process.env.KAFKA_BROKERS ?? LOCAL_KAFKA_BROKERS;
export const TEST_NATS_URL = process.env.NATS_URL ?? LOCAL_NATS_URL;

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

export interface JsonResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/** Minimal HTTP client for tests: real requests over the loopback, JSON in and out. */
export async function requestJson<T = Record<string, unknown>>(
  url: string,
  init: { method?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  let body: string | undefined;
  if (init.rawBody !== undefined) body = init.rawBody;
  else if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    // keep the raw text: the assertion will show it
  }
  return { status: response.status, headers: response.headers, body: parsed as T };
}

/** Test topics are per file; deleting them keeps the shared broker from filling up. */
export async function deleteTestTopic(topic: string): Promise<void> {
  const admin = new Kafka({ clientId: 'test-cleanup', brokers: TEST_KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING }).admin();
  try {
    await admin.connect();
    await admin.deleteTopics({ topics: [topic], timeout: 5_000 });
  } catch {
    // Already gone, or never created: nothing to clean.
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
