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
    exitOnUnhandledErrors(logger);
    const running = await start(config, logger);
    installShutdownHandlers(logger, [{ name, run: () => running.stop() }]);
  };
  main().catch((error: unknown) => exitOnStartupFailure(name, error));
}

/**
 * A throw nobody caught or a rejection nobody handled leaves the process in a state no code was
 * written for (a half-done step, a lost connection nobody retries): log it with its error and exit
 * non-zero, so the supervisor (compose, systemd, Kubernetes) starts a clean process.
 */
export function exitOnUnhandledErrors(logger: Logger): void {
  process.on('uncaughtException', (error: Error) => {
    logger.fatal({ err: error }, 'uncaught exception: exiting');
    process.exit(1);
  });
  process.on('unhandledRejection', (reason: unknown) => {
    logger.fatal({ err: reason }, 'unhandled promise rejection: exiting');
    process.exit(1);
  });
}

/**
 * Runs a command-line tool (`make reconcile`, `make replay-outbox`, `make bench`): the process
 * exits with the code `main` resolves to, once everything it opened is closed. A failure (main
 * rejects) is one line on stderr and `failureExitCode`, kept apart from the tool's own codes (a
 * check that ran and found a problem is not a check that could not run).
 */
export function runCli(name: string, main: () => Promise<number>, options: { failureExitCode?: number } = {}): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${name}: failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = options.failureExitCode ?? 2;
    },
  );
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
