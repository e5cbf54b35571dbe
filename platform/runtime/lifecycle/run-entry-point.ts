import { migrateServiceSchema, type ServiceMigrations } from '../db/migrate';
import { createLogger, type Logger } from '../logging/create-logger';
import { exitOnStartupFailure, installShutdownHandlers } from './shutdown';

/**
 * The bodies of the processes' entry points (`entry-points/main.ts`, `entry-points/migrate.ts`).
 * Every process starts the same way: configuration parsed and validated once, a logger at its
 * level, and exit code 1 with a one-line reason when start-up fails; kept here so the three
 * processes cannot drift apart in how they start and stop.
 */

/** Starts a long-running process and stops it on SIGTERM/SIGINT (see installShutdownHandlers). */
export function runProcess<C extends { logLevel: string }>(
  name: string,
  loadConfig: () => C,
  start: (config: C, logger: Logger) => Promise<{ stop(): Promise<void> }>,
): void {
  const main = async (): Promise<void> => {
    const config = loadConfig();
    const logger = createLogger({ service: name, level: config.logLevel });
    const running = await start(config, logger);
    installShutdownHandlers(logger, [{ name, run: () => running.stop() }]);
  };
  main().catch((error: unknown) => exitOnStartupFailure(name, error));
}

/** `make migrate`: applies a service's migrations and exits. */
export function runMigrations(
  service: string,
  loadConfig: () => { logLevel: string; migrationDatabaseUrl: string },
  schema: ServiceMigrations,
): void {
  const main = async (): Promise<void> => {
    const config = loadConfig();
    const logger = createLogger({ service, level: config.logLevel });
    const applied = await migrateServiceSchema({ service, migrationDatabaseUrl: config.migrationDatabaseUrl, schema, logger });
    if (applied.length === 0) logger.info({ applied }, 'schema is up to date');
  };
  main().catch((error: unknown) => exitOnStartupFailure(`${service} migrate`, error));
}
