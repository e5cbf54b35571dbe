/**
 * The infrastructure faults `make chaos` injects, each only where this machine can really do it:
 * a drill that cannot run is reported as skipped with the reason, never simulated.
 * Every command runs asynchronously so the load keeps flowing while PostgreSQL restarts.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { LOCAL_NATS_PORT, LOCAL_NATS_URL } from '../config/local-infrastructure';
import { REPO_ROOT } from './bench-config';

export interface DrillAvailability {
  available: boolean;
  /** Why it cannot run (or how it will run). */
  reason: string;
}

const INFRA_SCRIPT = join(REPO_ROOT, 'platform', 'infra', 'infra.sh');
const KAFKA_PID_FILE = join(REPO_ROOT, '.run', 'kafka.pid');
const NATS_SERVER = '/usr/sbin/nats-server';
// The exact command the machine started NATS with (see platform/infra/infra.sh).
const NATS_START_ARGS = [
  '--start', '--oknodo', '--background', '--exec', NATS_SERVER, '--',
  '-a', '127.0.0.1', '-p', '4222', '-js', '-sd', '/var/lib/nats-server', '-l', '/var/log/nats-server.log',
];

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

export function detectPostgresRestart(): DrillAvailability {
  const tool = findOnPath('pg_ctlcluster');
  if (!tool) return { available: false, reason: 'pg_ctlcluster is not installed (PostgreSQL is not a Debian-managed cluster here)' };
  const versions = postgresVersions();
  if (versions.length !== 1) return { available: false, reason: `expected one cluster version in /etc/postgresql, found ${versions.length}` };
  if (process.getuid?.() !== 0) return { available: false, reason: 'restarting the cluster needs root' };
  return { available: true, reason: `pg_ctlcluster ${versions[0]} main restart` };
}

export async function restartPostgres(): Promise<number> {
  const version = postgresVersions()[0]!;
  const started = performance.now();
  const result = await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart']);
  if (result.code !== 0) throw new Error(`pg_ctlcluster restart failed (${result.code}): ${result.output}`);
  await waitUntil(() => portOpen(5432), 60_000, 'PostgreSQL did not accept connections');
  return performance.now() - started;
}

export function detectKafkaOutage(): DrillAvailability {
  if (!existsSync(KAFKA_PID_FILE)) {
    return { available: false, reason: 'Kafka was not started natively by platform/infra/infra.sh (no .run/kafka.pid): not ours to stop' };
  }
  const pid = Number(readFileSync(KAFKA_PID_FILE, 'utf8').trim());
  try {
    process.kill(pid, 0);
  } catch {
    return { available: false, reason: `.run/kafka.pid names pid ${pid}, which is not running` };
  }
  return { available: true, reason: `infra.sh kafka-down / kafka-up (pid ${pid})` };
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
  if (!executable(NATS_SERVER)) return { available: false, reason: `${NATS_SERVER} is not installed (NATS runs elsewhere, e.g. in Docker)` };
  if (!findOnPath('start-stop-daemon')) return { available: false, reason: 'start-stop-daemon is not available' };
  const status = await run('start-stop-daemon', ['--status', '--exec', NATS_SERVER]);
  if (status.code !== 0) return { available: false, reason: `${NATS_SERVER} is not running as a local daemon` };
  if (!(await portOpen(LOCAL_NATS_PORT))) return { available: false, reason: `nothing listens on ${LOCAL_NATS_URL}` };
  return { available: true, reason: 'start-stop-daemon --stop/--start --exec /usr/sbin/nats-server' };
}

export async function stopNats(): Promise<void> {
  const result = await run('start-stop-daemon', ['--stop', '--retry', 'TERM/10/KILL/5', '--exec', NATS_SERVER]);
  // 1 = nothing was running, which is the state we want.
  if (result.code !== 0 && result.code !== 1) throw new Error(`stopping NATS failed: ${result.output}`);
  await waitUntil(async () => !(await portOpen(4222)), 15_000, 'NATS still listens');
}

export async function startNats(): Promise<void> {
  const result = await run('start-stop-daemon', NATS_START_ARGS);
  if (result.code !== 0) throw new Error(`starting NATS failed: ${result.output}`);
  await waitUntil(() => portOpen(LOCAL_NATS_PORT), 30_000, `NATS did not open ${LOCAL_NATS_URL}`);
}
