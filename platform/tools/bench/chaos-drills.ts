/**
 * The infrastructure faults `make chaos` injects, each only where this machine can really do it:
 * a drill that cannot run is reported as skipped with the reason, never simulated.
 * Every command runs asynchronously so the load keeps flowing while PostgreSQL restarts.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { basename, join } from 'node:path';
import pg from 'pg';
import { LOCAL_NATS_PORT } from '@wallet/platform';
import { REPO_ROOT, TEST_POSTGRES_URL } from '@wallet/platform/testkit';

export interface DrillAvailability {
  available: boolean;
  /** Why it cannot run (or how it will run). */
  reason: string;
}

const INFRA_SCRIPT = join(REPO_ROOT, 'platform', 'tools', 'infra', 'infra.sh');
const KAFKA_PID_FILE = join(REPO_ROOT, '.run', 'kafka.pid');
// The project's own nats-server (infra.sh nats-up: the repo's config, its own port), never the machine's.
const NATS_PID_FILE = join(REPO_ROOT, '.run', 'nats.pid');
const NATS_PORT = Number(process.env.NATS_PORT ?? LOCAL_NATS_PORT);
const POSTGRES_PORT = Number(new URL(TEST_POSTGRES_URL).port) || 5432;

function run(command: string, args: readonly string[], timeoutMs = 120_000): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}`.trim() });
    });
  });
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin:/usr/sbin:/sbin').split(':')) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  for (const dir of ['/usr/sbin', '/sbin', '/usr/bin']) if (executable(join(dir, name))) return join(dir, name);
  return undefined;
}

export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function waitUntil(probe: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} within ${timeoutMs} ms`);
}

function postgresVersions(): string[] {
  try {
    return readdirSync('/etc/postgresql');
  } catch {
    return [];
  }
}

/** The one Debian-managed cluster this machine runs, or why the cluster drills cannot run here. */
function debianCluster(): { version: string } | DrillAvailability {
  if (!findOnPath('pg_ctlcluster')) return { available: false, reason: 'pg_ctlcluster is not installed (PostgreSQL is not a Debian-managed cluster here)' };
  const versions = postgresVersions();
  if (versions.length !== 1) return { available: false, reason: `expected one cluster version in /etc/postgresql, found ${versions.length}` };
  if (process.getuid?.() !== 0) return { available: false, reason: 'stopping or restarting the cluster needs root' };
  return { version: versions[0]! };
}

async function pgctl(action: 'restart' | 'start' | 'stop-immediate'): Promise<void> {
  const found = debianCluster();
  if (!('version' in found)) throw new Error(found.reason);
  const args = action === 'stop-immediate' ? ['stop', '-m', 'immediate'] : [action];
  const result = await run('pg_ctlcluster', ['--skip-systemctl-redirect', found.version, 'main', ...args]);
  if (result.code !== 0) throw new Error(`pg_ctlcluster ${args.join(' ')} failed (${result.code}): ${result.output}`);
}

export function detectPostgresRestart(): DrillAvailability {
  const found = debianCluster();
  return 'version' in found ? { available: true, reason: `pg_ctlcluster ${found.version} main restart` } : found;
}

export async function restartPostgres(): Promise<number> {
  const started = performance.now();
  await pgctl('restart');
  await waitUntil(() => portOpen(POSTGRES_PORT), 60_000, 'PostgreSQL did not accept connections');
  return performance.now() - started;
}

export function detectPostgresCrash(): DrillAvailability {
  const found = debianCluster();
  return 'version' in found ? { available: true, reason: `pg_ctlcluster ${found.version} main stop -m immediate, then start` } : found;
}

/**
 * SIGQUIT to the postmaster without a checkpoint, as a power loss or an OOM kill of the whole
 * server would: open transactions and COMMITs not yet flushed to the WAL are gone. Returns its ms.
 */
export async function stopPostgresImmediately(): Promise<number> {
  const started = performance.now();
  await pgctl('stop-immediate');
  return performance.now() - started;
}

/** Starts the cluster (crash recovery replays the WAL) and waits until a query is answered. */
export async function startPostgres(superuserUrl: string): Promise<number> {
  const started = performance.now();
  // "Already running" (the stop never happened, or someone else started it) is no failure.
  await pgctl('start').catch(async (error: unknown) => {
    if (!(await answersQueries(superuserUrl))) throw error;
  });
  await waitUntil(() => answersQueries(superuserUrl), 60_000, 'PostgreSQL did not answer a query');
  return performance.now() - started;
}

async function answersQueries(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000, query_timeout: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** What a database's backends of one login were doing at one moment (pg_stat_activity). */
export interface InFlight {
  backends: number;
  active: number;
  idleInTransaction: number;
  committing: number;
}

const IN_FLIGHT_SQL = `
  SELECT pid, state, left(query, 40) AS query
    FROM pg_stat_activity
   WHERE datname = $1 AND usename = $2 AND pid <> pg_backend_pid()
   ORDER BY (state = 'active' AND query ILIKE 'commit%') DESC, (state = 'active') DESC,
            (state = 'idle in transaction') DESC, xact_start NULLS LAST`;

type BackendRow = { pid: number; state: string | null; query: string };
const isCommitting = (row: BackendRow): boolean => row.state === 'active' && /^\s*commit/i.test(row.query);

async function backendsOf(client: pg.Client, database: string, role: string): Promise<BackendRow[]> {
  return (await client.query<BackendRow>(IN_FLIGHT_SQL, [database, role])).rows;
}

function summarize(rows: readonly BackendRow[]): InFlight {
  return {
    backends: rows.length,
    active: rows.filter((r) => r.state === 'active').length,
    idleInTransaction: rows.filter((r) => r.state === 'idle in transaction').length,
    committing: rows.filter(isCommitting).length,
  };
}

/**
 * Watches `role`'s backends until the server stops answering (it is being crashed), so the last
 * look is what the crash cut off, not what ran a second earlier. Bounded by `timeoutMs`.
 */
export async function watchUntilDown(superuserUrl: string, database: string, role: string, timeoutMs: number): Promise<InFlight | undefined> {
  const client = new pg.Client({ connectionString: superuserUrl, connectionTimeoutMillis: 2_000, query_timeout: 2_000 });
  client.on('error', () => undefined);
  let last: InFlight | undefined;
  try {
    await client.connect();
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      last = summarize(await backendsOf(client, database, role));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  } catch {
    // the connection was cut: `last` is the final picture before the crash
  } finally {
    await client.end().catch(() => undefined);
  }
  return last;
}

/**
 * The OOM-killer variant can run only where this process may signal PostgreSQL's backends (root,
 * the server's processes visible here, not in a container) and where the postmaster then restarts
 * them instead of shutting down (restart_after_crash = on).
 */
export async function detectBackendKill(superuserUrl: string): Promise<DrillAvailability> {
  if (process.getuid?.() !== 0) return { available: false, reason: 'killing a PostgreSQL backend needs root' };
  const client = new pg.Client({ connectionString: superuserUrl, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const row = (await client.query<{ pid: number; restart: string }>(`SELECT pg_backend_pid() AS pid, current_setting('restart_after_crash') AS restart`)).rows[0]!;
    if (row.restart !== 'on') return { available: false, reason: 'restart_after_crash is off: a killed backend would shut the whole server down' };
    if (!existsSync(`/proc/${row.pid}`)) return { available: false, reason: `PostgreSQL's processes are not visible here (backend ${row.pid} is not in /proc: another host or a container)` };
    return { available: true, reason: 'kill -9 one transaction_service backend of the private database (restart_after_crash = on)' };
  } catch (error) {
    return { available: false, reason: `could not ask PostgreSQL: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface KilledBackend {
  pid: number;
  state: string;
  query: string;
  /** The others of the same login at that moment (the victim included). */
  inFlight: InFlight;
  /** Whether our own monitoring connection was then cut, i.e. the postmaster reset every backend. */
  resetSeen: boolean;
  recoveredMs: number;
}

/**
 * SIGKILL to one backend of `role` in `database`, as the OOM killer would: the postmaster then
 * terminates every backend and replays the WAL. It aims for up to `aimMs` at a backend caught in
 * COMMIT (the ambiguous case), else takes one in a statement, else one in a transaction.
 */
export async function killBackend(superuserUrl: string, database: string, role: string, aimMs: number): Promise<KilledBackend> {
  const client = new pg.Client({ connectionString: superuserUrl, connectionTimeoutMillis: 5_000, query_timeout: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  let rows: BackendRow[] = [];
  try {
    const deadline = performance.now() + aimMs;
    do {
      rows = await backendsOf(client, database, role);
      if (rows[0] && isCommitting(rows[0])) break;
      await new Promise((resolve) => setTimeout(resolve, 2));
    } while (performance.now() < deadline);
    const victim = rows[0];
    if (!victim) throw new Error(`no backend of ${role} in ${database} to kill`);
    process.kill(victim.pid, 'SIGKILL');
    const killedAt = performance.now();
    const resetSeen = await client.query('SELECT pg_sleep(5)').then(() => false, () => true);
    await waitUntil(() => answersQueries(superuserUrl), 60_000, 'PostgreSQL did not answer a query after the backend kill');
    return { pid: victim.pid, state: victim.state ?? 'unknown', query: victim.query, inFlight: summarize(rows), resetSeen, recoveredMs: performance.now() - killedAt };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * A broker may be stopped only when infra.sh started it here: its pid file names a running process.
 * Returns that pid, or why the drill is not ours to run.
 */
function ownedBrokerPid(name: 'Kafka' | 'NATS', pidFile: string): { pid: number } | DrillAvailability {
  const file = `.run/${basename(pidFile)}`;
  if (!existsSync(pidFile)) {
    return { available: false, reason: `${name} was not started natively by platform/tools/infra/infra.sh (no ${file}): not ours to stop` };
  }
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  try {
    process.kill(pid, 0);
  } catch {
    return { available: false, reason: `${file} names pid ${pid}, which is not running` };
  }
  return { pid };
}

export function detectKafkaOutage(): DrillAvailability {
  const owned = ownedBrokerPid('Kafka', KAFKA_PID_FILE);
  if (!('pid' in owned)) return owned;
  return { available: true, reason: `infra.sh kafka-down / kafka-up (pid ${owned.pid})` };
}

export async function stopKafka(): Promise<void> {
  const result = await run('bash', [INFRA_SCRIPT, 'kafka-down']);
  if (result.code !== 0) throw new Error(`infra.sh kafka-down failed: ${result.output}`);
}

export async function startKafka(): Promise<void> {
  const result = await run('bash', [INFRA_SCRIPT, 'kafka-up'], 180_000);
  if (result.code !== 0) throw new Error(`infra.sh kafka-up failed: ${result.output}`);
}

export async function detectNatsOutage(): Promise<DrillAvailability> {
  const owned = ownedBrokerPid('NATS', NATS_PID_FILE);
  if (!('pid' in owned)) return owned;
  if (!(await portOpen(NATS_PORT))) return { available: false, reason: `nothing listens on 127.0.0.1:${NATS_PORT}` };
  return { available: true, reason: `infra.sh nats-down / nats-up (pid ${owned.pid})` };
}

export async function stopNats(): Promise<void> {
  const result = await run('bash', [INFRA_SCRIPT, 'nats-down']);
  if (result.code !== 0) throw new Error(`infra.sh nats-down failed: ${result.output}`);
  await waitUntil(async () => !(await portOpen(NATS_PORT)), 15_000, 'NATS still listens');
}

export async function startNats(): Promise<void> {
  const result = await run('bash', [INFRA_SCRIPT, 'nats-up'], 60_000);
  if (result.code !== 0) throw new Error(`infra.sh nats-up failed: ${result.output}`);
}
