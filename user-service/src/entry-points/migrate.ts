import { createLogger, exitOnStartupFailure, migrateAsOwner } from '@wallet/platform';
import { loadUserServiceConfig } from '../config';
import { migrations, MIGRATION_LOCK_KEY } from '../data-access/migrations/001-create-users-schema';

/** `make migrate`: applies user-service's migrations (users + outbox) and exits. */
async function main(): Promise<void> {
  const config = loadUserServiceConfig();
  const logger = createLogger({ service: 'user-service', level: config.logLevel });
  const applied = await migrateAsOwner({
    migrationDatabaseUrl: config.migrationDatabaseUrl,
    migrations,
    lockKey: MIGRATION_LOCK_KEY,
    applicationName: 'user-service-migrate',
  });
  logger.info({ applied }, applied.length > 0 ? 'migrations applied' : 'schema is up to date');
}

main().catch((error: unknown) => exitOnStartupFailure('user-service migrate', error));
