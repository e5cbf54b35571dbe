import { createKnex, createLogger, ensureDatabaseExists, exitOnStartupFailure, migrateExclusively } from '@wallet/platform';
import { loadTransactionServiceConfig } from '../config';
import { migrations, MIGRATION_LOCK_KEY } from '../data-access/migrations/001-create-wallet-schema';

/** `make migrate`: applies transaction-service's migrations and exits. */
async function main(): Promise<void> {
  const config = loadTransactionServiceConfig();
  const logger = createLogger({ service: 'transaction-service', level: config.logLevel });
  await ensureDatabaseExists(config.databaseUrl);
  const knex = createKnex({ url: config.databaseUrl, poolMax: 2, applicationName: 'transaction-service-migrate' });
  try {
    const applied = await migrateExclusively(knex, config.databaseUrl, migrations, MIGRATION_LOCK_KEY);
    logger.info({ applied }, applied.length > 0 ? 'migrations applied' : 'schema is up to date');
  } finally {
    await knex.destroy();
  }
}

main().catch((error: unknown) => exitOnStartupFailure('transaction-service migrate', error));
