/**
 * The infrastructure faults `make chaos` injects, each only where this machine can really do it:
 * a drill that cannot run is reported as skipped with the reason, never simulated.
 * Every command runs asynchronously so the load keeps flowing while PostgreSQL restarts.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { basename, join } from 'node:path';
import { LOCAL_NATS_PORT } from '@wallet/platform';
import { REPO_ROOT } from '@wallet/platform/testkit';

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
