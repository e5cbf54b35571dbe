import type { Knex } from 'knex';
import type { Logger } from 'pino';
import pg from 'pg';
import { createKnex, ensureDatabaseExists } from './create-knex';

export interface Migration {
  name: string;
  /** Forward only: a migration is never undone in place; a mistake is corrected by a new one. */
  up: (knex: Knex) => Promise<void>;
}

/**
 * A migration that runs one SQL text (it may hold several statements). knex records only a
 * migration's name in knex_migrations, no checksum of what ran, so an applied migration may be
 * written this way as long as its name and its statements stay the same.
 */
export function sqlMigration(name: string, sql: string): Migration {
  return {
    name,
    async up(knex: Knex): Promise<void> {
      await knex.raw(sql);
    },
  };
}

/** A role name as it stands in SQL unquoted; the grants below splice it into the statement. */
const PLAIN_ROLE = /^[a-z_][a-z0-9_]*$/;

/**
 * The SQL of one DO block granting each login its privileges, skipping a login whose role does not
 * exist (a server set up without db/init). Keyed by role, in order; each privilege is what stands
 * between GRANT and TO, e.g. `SELECT, INSERT ON users`.
 */
export function grantsIfRolesExist(privilegesByRole: Readonly<Record<string, readonly string[]>>): string {
  const perRole = Object.entries(privilegesByRole).map(([role, privileges]) => {
    if (!PLAIN_ROLE.test(role)) throw new Error(`not a plain role name: ${role}`);
    const grants = privileges.map((privilege) => `    GRANT ${privilege} TO ${role};`);
    return [`  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN`, ...grants, '  END IF;'].join('\n');
  });
  return ['DO $$', 'BEGIN', ...perRole, 'END', '$$;'].join('\n');
}

/** Serves migrations from a static list, so compiled output and tests need no file globbing. */
class StaticMigrationSource implements Knex.MigrationSource<Migration> {
  constructor(private readonly migrations: readonly Migration[]) {}
  getMigrations(): Promise<Migration[]> {
    return Promise.resolve([...this.migrations]);
  }
  getMigrationName(migration: Migration): string {
    return migration.name;
  }
  getMigration(migration: Migration): Promise<Knex.Migration> {
    // knex refuses a migration without `down`; ours are forward only, so it does nothing.
    return Promise.resolve({ up: migration.up, down: () => Promise.resolve() });
  }
}

/**
 * Applies migrations under a PostgreSQL advisory lock. knex's own lock table makes a second
 * instance fail ("migration table is already locked") instead of waiting; the advisory lock makes
 * it wait, then find nothing left to do, so several replicas can start at once.
 */
export async function migrateExclusively(
  knex: Knex,
  databaseUrl: string,
  migrations: readonly Migration[],
  lockKey: number,
): Promise<string[]> {
  const lockClient = new pg.Client({ connectionString: databaseUrl });
  await lockClient.connect();
  try {
    await lockClient.query('SELECT pg_advisory_lock($1)', [lockKey]);
    // A process killed mid-migration leaves knex's lock row set; while we hold the advisory lock
    // nobody else is migrating, so it is safe to clear.
    await knex.migrate.forceFreeMigrationsLock({ migrationSource: new StaticMigrationSource(migrations) }).catch(() => undefined);
    const [, applied] = (await knex.migrate.latest({ migrationSource: new StaticMigrationSource(migrations) })) as [
      number,
      string[],
    ];
    return applied;
  } finally {
    await lockClient.query('SELECT pg_advisory_unlock($1)', [lockKey]).catch(() => undefined);
    await lockClient.end();
  }
}

/**
 * Applies `migrations` as the database's owner, on a connection of its own that is closed before
 * the service starts serving: the service's own login holds only DML (see db/README.md), so it
 * could not alter the schema even if it tried. Creates the database first when it is missing and
 * the owner may (harmless otherwise).
 */
export async function migrateAsOwner(options: {
  migrationDatabaseUrl: string;
  migrations: readonly Migration[];
  lockKey: number;
  applicationName: string;
}): Promise<string[]> {
  await ensureDatabaseExists(options.migrationDatabaseUrl);
  const knex = createKnex({ url: options.migrationDatabaseUrl, poolMax: 2, applicationName: options.applicationName });
  try {
    return await migrateExclusively(knex, options.migrationDatabaseUrl, options.migrations, options.lockKey);
  } finally {
    await knex.destroy();
  }
}

/**
 * What a service's migrations module exports (`data-access/migrations/001-*.ts`): its migrations
 * in order and the advisory-lock key that serialises them.
 */
export interface ServiceMigrations {
  migrations: readonly Migration[];
  MIGRATION_LOCK_KEY: number;
}

/**
 * A service's migrations applied as its database's owner (see migrateAsOwner), the one way both
 * the service's start-up and its `make migrate` command do it: same lock, same connection name
 * (`<service>-migrate`), and a log line naming what was applied.
 */
export async function migrateServiceSchema(options: {
  service: string;
  migrationDatabaseUrl: string;
  schema: ServiceMigrations;
  logger: Logger;
}): Promise<string[]> {
  const applied = await migrateAsOwner({
    migrationDatabaseUrl: options.migrationDatabaseUrl,
    migrations: options.schema.migrations,
    lockKey: options.schema.MIGRATION_LOCK_KEY,
    applicationName: `${options.service}-migrate`,
  });
  if (applied.length > 0) options.logger.info({ applied }, 'migrations applied');
  return applied;
}
