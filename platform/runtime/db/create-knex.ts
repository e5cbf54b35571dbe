import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import type { DatabaseSettings } from '../config/process-settings';
import { sqlState } from '../errors/error-fields';

export type { Knex } from 'knex';

/** PostgreSQL BIGINT's upper bound (2^63 - 1): a balance, a ledger seq, a cursor cannot pass it. */
export const PG_BIGINT_MAX = 9_223_372_036_854_775_807n;

export interface DatabaseOptions {
  url: string;
  poolMax: number;
  applicationName: string;
  /** Statement timeout in ms, so a stuck query cannot hold row locks for ever. */
  statementTimeoutMs?: number;
  /** Lock timeout in ms: a transaction waits at most this long for one row lock, then fails 55P03. */
  lockTimeoutMs?: number;
  /** The server ends a session idle inside a transaction for this long (idle_in_transaction_session_timeout). */
  idleInTransactionTimeoutMs?: number;
  /** How long to wait for a connection (a new one or a free one from the pool); 30 s by default. */
  acquireTimeoutMs?: number;
  /**
   * synchronous_commit=off on the pool's sessions: for pools whose transactions write nothing worth
   * an fsync (a row lock taken only to wait for its holders), so their COMMIT never waits for one.
   */
  asynchronousCommit?: boolean;
}

export function createKnex(options: DatabaseOptions): Knex {
  return knexFactory({
    client: 'pg',
    connection: {
      connectionString: options.url,
      application_name: options.applicationName,
      ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
      ...(options.lockTimeoutMs ? { lock_timeout: options.lockTimeoutMs } : {}),
      ...(options.idleInTransactionTimeoutMs ? { idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs } : {}),
      ...(options.asynchronousCommit ? { options: '-c synchronous_commit=off' } : {}),
    },
    pool: { min: 0, max: options.poolMax, acquireTimeoutMillis: options.acquireTimeoutMs ?? 30_000 },
    acquireConnectionTimeout: options.acquireTimeoutMs ?? 30_000,
  });
}

/** The process's main pool, as its DATABASE_URL, DB_POOL_MAX and DB_STATEMENT_TIMEOUT_MS say. */
export function createKnexFromSettings(settings: DatabaseSettings, applicationName: string): Knex {
  return createKnex({
    url: settings.databaseUrl,
    poolMax: settings.dbPoolMax,
    applicationName,
    statementTimeoutMs: settings.dbStatementTimeoutMs,
  });
}

/** Creates the database named in `url` when it does not exist (safe when several processes race). */
export async function ensureDatabaseExists(url: string): Promise<void> {
  const target = new URL(url);
  const database = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!/^[a-zA-Z_][a-zA-Z0-9_]{0,62}$/.test(database)) {
    throw new Error(`refusing to create a database with an unusual name: ${database}`);
  }
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE "${database}"`);
      } catch (error) {
        // 42P04 duplicate_database / 23505: another process created it between our check and create.
        const code = sqlState(error);
        if (code !== '42P04' && code !== '23505') throw error;
      }
    }
  } finally {
    await client.end();
  }
}

export async function dropDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const database = decodeURIComponent(target.pathname.replace(/^\//, ''));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

export async function checkDatabase(knex: Knex): Promise<void> {
  await knex.raw('SELECT 1');
}
