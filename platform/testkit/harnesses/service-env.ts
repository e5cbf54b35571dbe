import { closeInOrder, createKnex, createLogger, type Knex, type Logger } from '@wallet/platform';
import { serviceCredentialsEnv, uniqueName, type ServiceRole, type TestDatabase } from '../test-resources';

/**
 * What every service under test starts with: a free port, its own login on its own database (holding
 * only what the migrations grant it), the owner for migrations, its own broker credentials, a NATS
 * subject no other test file uses, and quiet logs (TEST_LOG_LEVEL to see them).
 */
export async function serviceTestEnv(
  service: 'user-service' | 'transaction-service',
  role: ServiceRole,
  database: TestDatabase,
): Promise<Record<string, string>> {
  return {
    PORT: '0',
    DATABASE_URL: await database.urlAs(role),
    MIGRATION_DATABASE_URL: database.url,
    ...serviceCredentialsEnv(service),
    BALANCE_SUBJECT: uniqueName('wallet.balance.test'),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DB_POOL_MAX: '20',
  };
}

/** A direct connection for fixtures and assertions, never used by the service under test. */
export function testConnection(database: TestDatabase): Knex {
  return createKnex({ url: database.url, poolMax: 4, applicationName: 'test-fixtures' });
}

/** What a harness hands its test, whichever service it runs. */
export interface ServiceUnderTest<S> {
  url: string;
  /** The environment the service's configuration was read from. */
  env: Record<string, string>;
  database: TestDatabase;
  /** A direct connection for assertions and fixtures (never used by the service under test). */
  db: Knex;
  service: S;
  stop(): Promise<void>;
}

/**
 * Starts a service in-process as its entry point would (runProcess), with a logger at its
 * configured level, and opens the fixture connection on its database. `stop` stops the service,
 * closes that connection, then runs `cleanUp` (what the harness made for it: database, topic).
 */
export async function startServiceUnderTest<C extends { logLevel: string }, S extends { url: string; stop(): Promise<void> }>(
  name: 'user-service' | 'transaction-service',
  start: (config: C, logger: Logger) => Promise<S>,
  parts: { config: C; env: Record<string, string>; database: TestDatabase; cleanUp: () => Promise<void> },
): Promise<ServiceUnderTest<S>> {
  const { config, env, database } = parts;
  const service = await start(config, createLogger({ service: name, level: config.logLevel }));
  const db = testConnection(database);
  return { url: service.url, env, database, db, service, stop: closeInOrder(() => service.stop(), () => db.destroy(), parts.cleanUp) };
}
