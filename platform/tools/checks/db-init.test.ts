/**
 * Runs db/init/*.sql exactly as the postgres image's entrypoint does (psql, as the superuser, in
 * file order) on a throwaway PostgreSQL cluster of its own (a Unix socket in a temporary folder, no
 * TCP port), then applies both services' real migrations as their databases' owner roles and
 * checks that each service's login reaches only what it should. The shared development server is
 * never touched: the init scripts create fixed role and database names.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createKnex, ensureDatabaseExists, migrateExclusively, OUTBOX_TABLE, sqlState } from '@wallet/platform';
import { REPO_ROOT } from '@wallet/platform/testkit';
import { SERVICE_MIGRATIONS } from './service-modules';

const PASSWORDS = {
  postgres: 'superuser-test-pw',
  wallet_users_owner: 'wallet-users-owner-test-pw',
  wallet_transactions_owner: 'wallet-transactions-owner-test-pw',
  user_service: 'user-service-test-pw',
  transaction_service: 'transaction-service-test-pw',
  outbox_relay: 'outbox-relay-test-pw',
} as const;
type Role = keyof typeof PASSWORDS;

const INIT_ENV = {
  WALLET_USERS_OWNER_DB_PASSWORD: PASSWORDS.wallet_users_owner,
  WALLET_TRANSACTIONS_OWNER_DB_PASSWORD: PASSWORDS.wallet_transactions_owner,
  USER_SERVICE_DB_PASSWORD: PASSWORDS.user_service,
  TRANSACTION_SERVICE_DB_PASSWORD: PASSWORDS.transaction_service,
  OUTBOX_RELAY_DB_PASSWORD: PASSWORDS.outbox_relay,
};

/** The newest installed PostgreSQL (15 or later: the scripts use psql's \getenv), or undefined. */
function findPostgresBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => Number(v) >= 15 && existsSync(join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(base, versions[0], 'bin');
}

const PG_BIN = findPostgresBin();
// PostgreSQL refuses to run as root: then the server and psql run as the `postgres` account.
const asRoot = process.getuid?.() === 0;

function uidOf(user: string): number | undefined {
  const result = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  return result.status === 0 ? Number(result.stdout.trim()) : undefined;
}

function run(command: string, args: string[], env: Record<string, string> = {}) {
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const [file, argv] = asRoot
    ? ['runuser', ['-u', 'postgres', '--', 'env', ...envArgs, join(PG_BIN ?? '', command), ...args]]
    : [join(PG_BIN ?? '', command), args];
  return spawnSync(file, argv, {
    encoding: 'utf8',
    env: asRoot ? process.env : { ...process.env, ...env },
    timeout: 60_000,
  });
}

describe('db/init scripts on a fresh PostgreSQL', { skip: PG_BIN ? false : 'no PostgreSQL 15+ server binaries under /usr/lib/postgresql' }, () => {
  const port = 20_000 + Math.floor(Math.random() * 30_000);
  let dir = '';
  let started = false;

  const url = (role: Role, database: string) =>
    `postgres://${role}:${PASSWORDS[role]}@localhost:${port}/${database}?host=${encodeURIComponent(dir)}`;

  async function connect(role: Role, database: string): Promise<pg.Client> {
    const client = new pg.Client({ host: dir, port, user: role, password: PASSWORDS[role], database });
    await client.connect();
    return client;
  }

  async function sqlStateOf(work: () => Promise<unknown>): Promise<string | undefined> {
    try {
      await work();
      return undefined;
    } catch (error) {
      return sqlState(error) ?? String(error);
    }
  }

  /** Each statement, run in turn on `c`, is refused for want of privilege (42501). */
  async function assertRefused(c: pg.Client, statements: readonly string[]): Promise<void> {
    for (const statement of statements) {
      assert.equal(await sqlStateOf(() => c.query(statement)), '42501', statement);
    }
  }

  async function as<T>(role: Role, database: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = await connect(role, database);
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }

  function psqlFile(file: string, env: Record<string, string>) {
    // The same flags as the postgres image's docker-entrypoint.sh uses for *.sql files.
    return run(
      'psql',
      ['-v', 'ON_ERROR_STOP=1', '--username', 'postgres', '--no-password', '--no-psqlrc', '--dbname', 'postgres', '-h', dir, '-p', String(port), '-f', file],
      { PGPASSWORD: PASSWORDS.postgres, ...env },
    );
  }

  const scripts = readdirSync(join(REPO_ROOT, 'db', 'init'))
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => join(REPO_ROOT, 'db', 'init', f));

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'wallet-db-init-'));
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, `${PASSWORDS.postgres}\n`);
    if (asRoot) {
      const uid = uidOf('postgres');
      assert.ok(uid !== undefined, 'running as root needs a postgres account to run the server');
      chownSync(dir, uid, uid);
      chownSync(pwfile, uid, uid);
      // The scripts are read by psql running as postgres.
      chmodSync(dir, 0o755);
    }
    const init = run('initdb', ['-D', join(dir, 'data'), '-U', 'postgres', '--pwfile', pwfile, '-A', 'scram-sha-256', '-E', 'UTF8', '--no-sync']);
    assert.equal(init.status, 0, init.stderr);
    const start = run('pg_ctl', [
      '-D', join(dir, 'data'),
      '-l', join(dir, 'server.log'),
      '-o', `-c listen_addresses='' -k ${dir} -p ${port} -c fsync=off`,
      '-w', 'start',
    ]);
    assert.equal(start.status, 0, start.stderr + start.stdout);
    started = true;
  });

  after(() => {
    if (started) run('pg_ctl', ['-D', join(dir, 'data'), '-m', 'immediate', 'stop']);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('initialisation stops when a password is not set', () => {
    const first = scripts[0] ?? '';
    const { OUTBOX_RELAY_DB_PASSWORD: _missing, ...others } = INIT_ENV;
    const result = psqlFile(first, others);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /OUTBOX_RELAY_DB_PASSWORD is not set/);
  });

  test('the scripts run in order, as the image runs them, and again (make infra runs them every time)', async () => {
    for (let round = 0; round < 2; round++) {
      for (const script of scripts) {
        const result = psqlFile(script, INIT_ENV);
        assert.equal(result.status, 0, `round ${round}: ${script}\n${result.stderr}`);
      }
    }
    const roles = await as('postgres', 'postgres', async (c) =>
      (await c.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname IN ('wallet_users_owner', 'wallet_transactions_owner', 'user_service', 'transaction_service', 'outbox_relay') AND rolcanlogin AND NOT rolsuper AND NOT rolcreatedb AND NOT rolcreaterole ORDER BY 1")).rows.map((r) => r.rolname),
    );
    assert.deepEqual(roles, ['outbox_relay', 'transaction_service', 'user_service', 'wallet_transactions_owner', 'wallet_users_owner']);
    const owners = await as('postgres', 'postgres', async (c) =>
      (await c.query<{ datname: string; owner: string }>("SELECT datname, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname LIKE 'wallet_%' ORDER BY 1")).rows,
    );
    assert.deepEqual(owners, [
      { datname: 'wallet_transactions', owner: 'wallet_transactions_owner' },
      { datname: 'wallet_users', owner: 'wallet_users_owner' },
    ]);
  });

  test("each service's real migrations apply as its database's owner role", async () => {
    const services = [
      { pkg: 'user-service', role: 'wallet_users_owner', database: 'wallet_users' },
      { pkg: 'transaction-service', role: 'wallet_transactions_owner', database: 'wallet_transactions' },
    ] as const;
    for (const service of services) {
      const { migrations, lockKey: MIGRATION_LOCK_KEY } = SERVICE_MIGRATIONS[service.pkg];
      const databaseUrl = url(service.role, service.database);
      // What start-up does first: harmless when the database exists, even without CREATEDB.
      await ensureDatabaseExists(databaseUrl);
      const knex = createKnex({ url: databaseUrl, poolMax: 2, applicationName: 'db-init-test' });
      try {
        const applied = await migrateExclusively(knex, databaseUrl, migrations, MIGRATION_LOCK_KEY);
        assert.deepEqual(applied, migrations.map((m) => m.name));
      } finally {
        await knex.destroy();
      }
    }
  });

  test('no role reaches another service\'s database', async () => {
    await as('postgres', 'postgres', (c) => c.query("CREATE ROLE intruder LOGIN PASSWORD 'intruder-pw'"));
    const denied = async (user: string, password: string, database: string) =>
      sqlStateOf(async () => {
        const client = new pg.Client({ host: dir, port, user, password, database });
        await client.connect();
        await client.end();
      });
    assert.equal(await denied('user_service', PASSWORDS.user_service, 'wallet_transactions'), '42501');
    assert.equal(await denied('transaction_service', PASSWORDS.transaction_service, 'wallet_users'), '42501');
    assert.equal(await denied('wallet_users_owner', PASSWORDS.wallet_users_owner, 'wallet_transactions'), '42501');
    assert.equal(await denied('wallet_transactions_owner', PASSWORDS.wallet_transactions_owner, 'wallet_users'), '42501');
    assert.equal(await denied('intruder', 'intruder-pw', 'wallet_users'), '42501');
    assert.equal(await denied('intruder', 'intruder-pw', 'wallet_transactions'), '42501');
    assert.equal(await denied('user_service', 'wrong-password', 'wallet_users'), '28P01');
  });

  test("a service's own login cannot change the schema or apply migrations", async () => {
    for (const [role, database] of [['user_service', 'wallet_users'], ['transaction_service', 'wallet_transactions'], ['outbox_relay', 'wallet_users']] as const) {
      await as(role, database, async (c) => {
        assert.equal(await sqlStateOf(() => c.query('CREATE TABLE sneaky (id int)')), '42501', `${role} creates a table`);
        assert.equal(await sqlStateOf(() => c.query('ALTER TABLE users ADD COLUMN sneaky int')), '42501', `${role} alters users`);
        assert.equal(await sqlStateOf(() => c.query('DROP TABLE users')), '42501', `${role} drops users`);
        assert.equal(await sqlStateOf(() => c.query("INSERT INTO knex_migrations (name, batch, migration_time) VALUES ('x', 9, now())")), '42501');
      });
    }
  });

  test('user-service may read and create users and write events, nothing else', async () => {
    await as('user_service', 'wallet_users', async (c) => {
      await c.query("INSERT INTO users (user_id, email) VALUES ('0190a3f8-7c1e-7b3a-9d2e-4f5a6b7c8d01', 'a@b.co')");
      assert.equal((await c.query('SELECT email FROM users')).rowCount, 1);
      await c.query(
        `INSERT INTO ${OUTBOX_TABLE} (event_id, event_type, aggregate_id, payload)
         VALUES ('0190a3f8-7c1e-7b3a-9d2e-4f5a6b7c8d9e', 'user-created', 'u1', '{}')`,
      );
      assert.equal(await sqlStateOf(() => c.query("UPDATE users SET email = 'b@b.co'")), '42501');
      assert.equal(await sqlStateOf(() => c.query('DELETE FROM users')), '42501');
      assert.equal(await sqlStateOf(() => c.query(`SELECT * FROM ${OUTBOX_TABLE}`)), '42501');
      assert.equal(await sqlStateOf(() => c.query(`UPDATE ${OUTBOX_TABLE} SET published_at = now()`)), '42501');
    });
  });

  test('the outbox relay may only read and mark outbox rows', async () => {
    await as('outbox_relay', 'wallet_users', async (c) => {
      await c.query('BEGIN');
      const rows = await c.query(`SELECT id FROM ${OUTBOX_TABLE} WHERE published_at IS NULL FOR UPDATE SKIP LOCKED`);
      assert.equal(rows.rowCount, 1);
      await c.query(`UPDATE ${OUTBOX_TABLE} SET published_at = now(), attempts = attempts + 1, last_error = NULL`);
      await c.query('COMMIT');
      assert.equal(await sqlStateOf(() => c.query(`UPDATE ${OUTBOX_TABLE} SET payload = '{"forged": true}'`)), '42501', 'the payload is not the relay\'s to change');
      assert.equal(await sqlStateOf(() => c.query(`DELETE FROM ${OUTBOX_TABLE}`)), '42501');
      assert.equal(
        await sqlStateOf(() => c.query(`INSERT INTO ${OUTBOX_TABLE} (event_id, event_type, aggregate_id, payload) VALUES (gen_random_uuid(), 'x', 'x', '{}')`)),
        '42501',
      );
      assert.equal(await sqlStateOf(() => c.query('SELECT email FROM users')), '42501', 'the relay does not read users');
      assert.equal(await sqlStateOf(() => c.query(`DROP TABLE ${OUTBOX_TABLE}`)), '42501');
    });
  });

  test('the ledger is append-only by privilege as well as by trigger: the service login cannot rewrite it', async () => {
    await as('transaction_service', 'wallet_transactions', async (c) => {
      await c.query("INSERT INTO users (user_id, balance_minor, created_at) VALUES ('0190a3f8-7c1e-7b3a-9d2e-4f5a6b7c8d91', 500, now())");
      await c.query(
        `INSERT INTO transactions (id, user_id, type, kind, amount_minor, balance_after_minor, sequence)
         VALUES ('0190a3f8-7c1e-7b3a-9d2e-4f5a6b7c8d92', '0190a3f8-7c1e-7b3a-9d2e-4f5a6b7c8d91', 'credit', 'add_money', 500, 500, 1)`,
      );
      await c.query("UPDATE users SET balance_minor = 500, last_sequence = 1 WHERE user_id = '0190a3f8-7c1e-7b3a-9d2e-4f5a6b7c8d91'");
      await c.query("INSERT INTO money_events_pending (entry_seq) SELECT seq FROM transactions WHERE id = '0190a3f8-7c1e-7b3a-9d2e-4f5a6b7c8d92'");
      await c.query("INSERT INTO idempotency_keys (endpoint, idempotency_key, request_hash) VALUES ('add-money', 'k', 'h')");
      await c.query("DELETE FROM idempotency_keys WHERE idempotency_key = 'k'");
      // Rewriting the ledger, switching its trigger off, rewriting transfers, deleting what the ledger refers to.
      await assertRefused(c, [
        'UPDATE transactions SET amount_minor = 1', 'DELETE FROM transactions', 'TRUNCATE transactions CASCADE',
        'ALTER TABLE transactions DISABLE TRIGGER transactions_append_only', 'ALTER TABLE transactions DISABLE TRIGGER ALL',
        'DROP TRIGGER transactions_append_only ON transactions',
        'UPDATE transfers SET amount_minor = 1', 'DELETE FROM transfers',
        'DELETE FROM users', 'DELETE FROM processed_events',
      ]);
      const { rows } = await c.query<{ amount_minor: string }>('SELECT amount_minor FROM transactions');
      assert.deepEqual(rows, [{ amount_minor: '500' }]);
    });
    // The owner role (used only for migrations) is refused by the trigger too.
    await as('wallet_transactions_owner', 'wallet_transactions', async (c) => {
      assert.equal(await sqlStateOf(() => c.query('UPDATE transactions SET amount_minor = 1')), '42501');
      assert.equal(await sqlStateOf(() => c.query('DELETE FROM transactions')), '42501');
    });
  });

  test("the outbox relay, in transaction-service's database, may only read the ledger and work the money outbox", async () => {
    await as('outbox_relay', 'wallet_transactions', async (c) => {
      await c.query('BEGIN');
      const claimed = await c.query(
        `WITH claimed AS (DELETE FROM money_events_pending RETURNING entry_seq)
         SELECT t.amount_minor FROM claimed c JOIN transactions t ON t.seq = c.entry_seq`,
      );
      assert.equal(claimed.rowCount, 1, 'it takes the pending event and reads its ledger row');
      await c.query('INSERT INTO money_events_pending (entry_seq) SELECT seq FROM transactions');
      await c.query('COMMIT');
      // Writing the ledger, reading or writing balances, reading other tables, editing a pending event, the schema.
      await assertRefused(c, [
        'UPDATE transactions SET amount_minor = 1',
        "INSERT INTO transactions (id, user_id, type, kind, amount_minor, balance_after_minor, sequence) SELECT gen_random_uuid(), user_id, 'credit', 'add_money', 1, 1, 99 FROM users",
        'SELECT balance_minor FROM users', 'UPDATE users SET balance_minor = 0',
        'SELECT * FROM idempotency_keys', 'SELECT * FROM transfers',
        'UPDATE money_events_pending SET created_at = now()',
        'CREATE TABLE sneaky (id int)',
      ]);
    });
  });

  test('a database an older setup migrated as the superuser is handed to its owner by the scripts', async () => {
    await as('postgres', 'wallet_transactions', (c) => c.query('CREATE TABLE legacy (id int)'));
    for (const script of scripts) assert.equal(psqlFile(script, INIT_ENV).status, 0);
    const owner = await as('postgres', 'wallet_transactions', async (c) =>
      (await c.query<{ owner: string }>("SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relname = 'legacy'")).rows[0]?.owner,
    );
    assert.equal(owner, 'wallet_transactions_owner');
    await as('wallet_transactions_owner', 'wallet_transactions', (c) => c.query('DROP TABLE legacy'));
  });
});
