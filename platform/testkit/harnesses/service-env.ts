import { createKnex, type Knex } from '@wallet/platform';
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
