import { after, before } from 'node:test';
import { v7 as uuidv7 } from 'uuid';
import { closeInOrder, createKnex, createLogger, createMetricsRegistry, migrateExclusively, type Knex, type MetricsRegistry } from '@wallet/platform';
import { createTestDatabase, holdRowLock, metricValue, type TestDatabase, waitUntilWaitingOnLock } from '@wallet/platform/testkit';
import { migrations, MIGRATION_LOCK_KEY } from '../../src/data-access/migrations/001-create-wallet-schema';
import { connectionPerAttemptSettler, type BatchSettler, type SettlerOptions } from '../../src/data-access/money-transaction';
import { MoneyEngine, type MoneyEngineOptions } from '../../src/domain/transfers/money-engine';
import type { KeyedCommand } from '../../src/domain/transfers/money-command';
import { presentMoneyResult } from '../../src/entry-points/http/money-presenter';
import { parseAddMoneyRequest, parseTransferRequest } from '../../src/entry-points/http/money-requests';

/**
 * What the tests that drive the group-commit engine directly share: the engine as production
 * builds it (present, logger, metrics), users inserted directly, commands as the HTTP edge parses
 * them, a row lock that parks the engine, balance and metric reads. Every helper takes the
 * fixture knex (`db`) it reads and writes through, so a test may replace it (after a crash).
 */

/** The most one request may move (minor units), as the service's default. */
export const MAX_AMOUNT_MINOR = 100_000_000_00n;

/** The engine's connections' application_name unless a test names them otherwise. */
export const ENGINE_APPLICATION_NAME = 'engine-under-test';
/** testSettler's connections' application_name unless a test names them otherwise. */
export const SETTLER_APPLICATION_NAME = 'engine-settle';

export const transfer = (from: string, to: string, amount: string, key?: string): KeyedCommand =>
  parseTransferRequest({ from_user_id: from, to_user_id: to, amount_to_transfer: amount }, key, MAX_AMOUNT_MINOR);
export const addMoney = (userId: string, amount: string, key?: string): KeyedCommand =>
  parseAddMoneyRequest({ user_id: userId, amount }, key, MAX_AMOUNT_MINOR);

export interface WalletTestDatabase {
  database: TestDatabase;
  /** The fixture connections (`applicationName`), as the database's owner. */
  db: Knex;
  drop(): Promise<void>;
}

/** A test database with the wallet schema, and a fixture knex on it. */
export async function walletTestDatabase(name: string, applicationName: string, poolMax = 2): Promise<WalletTestDatabase> {
  const database = await createTestDatabase(name);
  const db = createKnex({ url: database.url, poolMax, applicationName });
  await migrateExclusively(db, database.url, migrations, MIGRATION_LOCK_KEY);
  return { database, db, drop: closeInOrder(() => db.destroy(), () => database.drop()) };
}

/**
 * For a test file: a wallet test database made before its tests (node:test `before`) and dropped
 * after them. Read `db` and `database` from inside hooks and tests.
 */
export function walletTestDatabaseForFile(name: string, applicationName: string, poolMax = 2): { readonly db: Knex; readonly database: TestDatabase } {
  let wallet: WalletTestDatabase | undefined;
  before(async () => {
    wallet = await walletTestDatabase(name, applicationName, poolMax);
  });
  after(async () => {
    await wallet?.drop();
  });
  const made = (): WalletTestDatabase => {
    if (!wallet) throw new Error('the test database is made in before()');
    return wallet;
  };
  return {
    get db() {
      return made().db;
    },
    get database() {
      return made().database;
    },
  };
}

/**
 * A MoneyEngine on `knex` as production builds it, with one batch in flight; `service` names its
 * metrics registry and logger (level TEST_LOG_LEVEL, silent by default). `options` override.
 */
export function createMoneyEngine(
  knex: Knex,
  service: string,
  options: Partial<Omit<MoneyEngineOptions, 'knex' | 'metrics' | 'logger'>> = {},
): { engine: MoneyEngine; metrics: MetricsRegistry } {
  const metrics = createMetricsRegistry(service);
  const engine = new MoneyEngine({
    knex,
    present: presentMoneyResult,
    logger: createLogger({ service, level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    metrics,
    maxBatchSize: 500,
    maxBatchesInFlight: 1,
    queueLimit: 10_000,
    ...options,
  });
  return { engine, metrics };
}

/** The production settler (a fresh connection and a deadline per attempt) on `url`; `options` override. */
export function testSettler(url: string, options: Partial<Omit<SettlerOptions, 'url'>> = {}): BatchSettler {
  return connectionPerAttemptSettler({
    url,
    applicationName: SETTLER_APPLICATION_NAME,
    lockTimeoutMs: 1_000,
    statementTimeoutMs: 10_000,
    attemptTimeoutMs: 6_000,
    ...options,
  });
}

/** Inserts `count` users (balance `balanceMinor`, default 0) directly; their ids, in order. */
export async function createUsers(db: Knex, count: number, balanceMinor = 0n): Promise<string[]> {
  const ids = Array.from({ length: count }, () => uuidv7());
  await db('users').insert(ids.map((user_id) => ({ user_id, created_at: new Date(), balance_minor: balanceMinor.toString() })));
  return ids;
}

/** The balances (minor units, as text) of `ids`, in their order. */
export async function balances(db: Knex, ids: string[]): Promise<string[]> {
  const rows = (await db('users').select('user_id', 'balance_minor').whereIn('user_id', ids)) as Array<{ user_id: string; balance_minor: string }>;
  return ids.map((id) => {
    const row = rows.find((r) => r.user_id === id);
    if (!row) throw new Error(`no user ${id}`);
    return row.balance_minor;
  });
}

export async function balanceOf(db: Knex, userId: string): Promise<string> {
  return (await balances(db, [userId]))[0]!;
}

/** metricValue of the registry's current text: the sum of the matching series, undefined if none. */
export async function metricOf(metrics: MetricsRegistry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  return metricValue(await metrics.metrics(), name, labels);
}

/**
 * Parks the engine: a batch crediting `blocker` 0.01 waits on a row lock the fixture holds, so the
 * items submitted next form one batch, in submission order. `commit` lets the parked batch go on;
 * `release` commits and waits for the parked item's outcome.
 */
export async function park(db: Knex, engine: MoneyEngine, blocker: string, applicationName = ENGINE_APPLICATION_NAME) {
  const lock = await holdRowLock(db, blocker);
  const parked = engine.submit(addMoney(blocker, '0.01'));
  await waitUntilWaitingOnLock(db, applicationName, 'the engine to wait on the test row lock');
  return {
    parked,
    commit: () => lock.release(),
    release: async () => {
      await lock.release();
      await parked;
    },
  };
}
