import { createLogger, exitOnStartupFailure, migrateAsOwner } from '@wallet/platform';
import { loadTransactionServiceConfig } from '../config';
import { migrations, MIGRATION_LOCK_KEY } from '../data-access/migrations/001-create-wallet-schema';

/** `make migrate`: applies transaction-service's migrations and exits. */
async function main(): Promise<void> {
  const config = loadTransactionServiceConfig();
  const logger = createLogger({ service: 'transaction-service', level: config.logLevel });
  const applied = await migrateAsOwner({
    migrationDatabaseUrl: config.migrationDatabaseUrl,
    migrations,
    lockKey: MIGRATION_LOCK_KEY,
    applicationName: 'transaction-service-migrate',
  });
  logger.info({ applied }, applied.length > 0 ? 'migrations applied' : 'schema is up to date');
}

main().catch((error: unknown) => exitOnStartupFailure('transaction-service migrate', error));
