import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A PostgreSQL cluster of the test's own, so a test can crash it (immediate stop: no checkpoint,
 * in-flight transactions lost, recovery from WAL at start) without touching the shared server.
 * Built from the machine's own PostgreSQL binaries; as root, the server runs as `postgres`.
 */
export interface PrivatePostgres {
  /** Superuser URL of database `postgres`. */
  url: string;
  port: number;
  crash(): void;
  start(): void;
  destroy(): void;
}

export type PrivatePostgresAvailability = { available: true; binDir: string } | { available: false; reason: string };

export function privatePostgresAvailability(): PrivatePostgresAvailability {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return { available: false, reason: `no PostgreSQL server binaries under ${root}` };
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) return { available: false, reason: `no pg_ctl under ${root}/*/bin` };
  if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'postgres']).status !== 0) {
    return { available: false, reason: 'running as root and there is no postgres user to run a private server' };
  }
  return { available: true, binDir: join(root, versions[0]!, 'bin') };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startPrivatePostgres(binDir: string): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'wallet-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim();
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim();
    chownSync(dir, Number(ids), Number(gid));
    chmodSync(dir, 0o700);
  }
  const run = (tool: string, args: string[]): void => {
    const command = asRoot ? ['runuser', '-u', 'postgres', '--', join(binDir, tool), ...args] : [join(binDir, tool), ...args];
    const result = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${result.status}): ${result.stderr}${result.stdout}`);
  };
  const data = join(dir, 'data');
  const port = await freePort();
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=40`;
  const start = () => run('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    // Immediate shutdown: every backend is killed at once, nothing is checkpointed; what was
    // not in the WAL is lost, and the next start runs crash recovery — a crash, as PostgreSQL sees it.
    crash: () => run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']),
    start,
    destroy: () => {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
