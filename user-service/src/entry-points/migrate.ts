import { createKnex, createLogger, ensureDatabaseExists, exitOnStartupFailure, migrateExclusively } from '@wallet/platform';
import { loadUserServiceConfig } from '../config';
import { migrations, MIGRATION_LOCK_KEY } from '../data-access/migrations/001-create-users-schema';

/** `make migrate`: applies user-service's migrations (users + outbox) and exits. */
async function main(): Promise<void> {
  const config = loadUserServiceConfig();
  const logger = createLogger({ service: 'user-service', level: config.logLevel });
  await ensureDatabaseExists(config.databaseUrl);
  const knex = createKnex({ url: config.databaseUrl, poolMax: 2, applicationName: 'user-service-migrate' });
  try {
    const applied = await migrateExclusively(knex, config.databaseUrl, migrations, MIGRATION_LOCK_KEY);
    logger.info({ applied }, applied.length > 0 ? 'migrations applied' : 'schema is up to date');
  } finally {
    await knex.destroy();
  }
}

main().catch((error: unknown) => exitOnStartupFailure('user-service migrate', error));
