/**
 * `make bench-statements`: balances at an instant and statements on a large ledger (ADR 11).
 *   1. a fresh transaction-service database seeded with BENCH_LEDGER_ROWS ledger rows over
 *      BENCH_LEDGER_USERS users (seed-ledger.ts, set-based SQL in the engine's write shape);
 *   2. transaction-service as a child process; a transfer load (BENCH_LEDGER_LOAD_CLIENTS clients)
 *      over the seeded users, and meanwhile BENCH_LEDGER_READERS readers, each alternating
 *      GET /users/{id}/balance?as_of= (a random user and instant) and a 100-item statement page (a
 *      random user and 3-day period): latency p50/p95/p99 of each, closed loop;
 *   3. one user with BENCH_LEDGER_CSV_ROWS entries: its whole period as CSV, time and the serving
 *      process's peak RSS (sampled from /proc every 50 ms).
 * Prints a report and writes .run/bench-statements-result.json.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import {
  percentile,
  REPO_ROOT,
  requestJson,
  runTransferLoad,
  seedCreditRun,
  spawnTransactionService,
  startTransactionServiceHarness,
  type SpawnedProcess,
  type TransactionServiceHarness,
} from '@wallet/platform/testkit';
import { currentCommit, print, writeJsonFile } from './bench-report';
import { seedLedger } from './seed-ledger';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const config = {
  users: env('BENCH_LEDGER_USERS', 10_000),
  rows: env('BENCH_LEDGER_ROWS', 1_000_000),
  readers: env('BENCH_LEDGER_READERS', 50),
  loadClients: env('BENCH_LEDGER_LOAD_CLIENTS', 50),
  loadTransfers: env('BENCH_LEDGER_LOAD_TRANSFERS', 30_000),
  csvRows: env('BENCH_LEDGER_CSV_ROWS', 200_000),
};
const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

function rssOf(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => Number(percentile(sorted, p).toFixed(2));
  return { count: sorted.length, p50: at(50), p95: at(95), p99: at(99), max: at(100) };
}

async function timed(url: string, failures: Map<number, number>): Promise<number> {
  const started = performance.now();
  const response = await requestJson(url, { timeoutMs: 30_000 });
  if (response.status !== 200) failures.set(response.status, (failures.get(response.status) ?? 0) + 1);
  return performance.now() - started;
}

/** Readers alternate an as_of read and a statement page until the load ends. */
async function readDuringLoad(url: string, users: string[], span: { startMs: number; endMs: number }, loading: () => boolean) {
  const asOf: number[] = [];
  const pages: number[] = [];
  const failures = new Map<number, number>();
  const pick = () => users[Math.floor(Math.random() * users.length)]!;
  const instant = () => span.startMs + Math.floor(Math.random() * (span.endMs - span.startMs));
  await Promise.all(
    Array.from({ length: config.readers }, async () => {
      for (let i = 0; loading() && i < 1_000_000; i += 1) {
        asOf.push(await timed(`${url}/users/${pick()}/balance?as_of=${encodeURIComponent(iso(instant()))}`, failures));
        const from = instant();
        pages.push(await timed(`${url}/users/${pick()}/statement?from=${encodeURIComponent(iso(from))}&to=${encodeURIComponent(iso(Math.min(from + 3 * DAY, span.endMs)))}&limit=100`, failures));
      }
    }),
  );
  return { asOf: summary(asOf), statementPage: summary(pages), failures: Object.fromEntries(failures) };
}

async function seedCsvUser(h: TransactionServiceHarness, rows: number): Promise<{ user: string; startMs: number }> {
  const user = randomUUID();
  const startMs = Date.now() - 40 * DAY;
  await seedCreditRun(h.db, user, startMs, rows);
  return { user, startMs };
}

function streamCsv(url: string, pid: number): Promise<{ ms: number; bytes: number; lines: number; rssBeforeMb: number; peakRssMb: number }> {
  const before = rssOf(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 50);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http.get(url, { headers: { accept: 'text/csv' } }, (response) => {
      let bytes = 0;
      let lines = 0;
      response.on('data', (chunk: Buffer) => {
        if (response.statusCode !== 200) process.stderr.write(`CSV answered ${response.statusCode}: ${chunk.toString('utf8')}\n`);
        bytes += chunk.length;
        for (const byte of chunk) if (byte === 10) lines += 1;
      });
      response.on('end', () => {
        clearInterval(sampler);
        resolve({ ms: Math.round(performance.now() - started), bytes, lines, rssBeforeMb: Math.round(before / 1e6), peakRssMb: Math.round(peak / 1e6) });
      });
      response.on('error', reject);
    }).on('error', reject);
  });
}

async function main(): Promise<void> {
  const h = await startTransactionServiceHarness();
  let child: SpawnedProcess | undefined;
  try {
    // More than the default 10 (readers would queue for the pool), fewer than the readers: the server's
    // max_connections (100) is shared with the other pools and whatever else runs on it.
    const spawned = await spawnTransactionService(h, 'bench-statements', { env: { AS_OF_DB_POOL_MAX: String(Math.min(20, config.readers)) } });
    const { url } = spawned;
    child = spawned.child;
    let started = performance.now();
    const seeded = await seedLedger(h.db, { users: config.users, rows: config.rows, days: 30 });
    const seedSeconds = Number(((performance.now() - started) / 1000).toFixed(1));
    print(`seeded ${config.rows} rows over ${config.users} users in ${seedSeconds} s`);
    let loading = true;
    started = performance.now();
    const loadUsers = seeded.userIds.slice(0, 2_000);
    const load = runTransferLoad({ txUrl: url, userIds: loadUsers, transfers: config.loadTransfers, concurrency: config.loadClients, hotPairShare: 0, duplicateShare: 0, maxAmountMinor: 1_000n }).finally(() => {
      loading = false;
    });
    const [loadResult, reads] = await Promise.all([load, readDuringLoad(url, seeded.userIds, seeded, () => loading)]);
    const loadSeconds = (performance.now() - started) / 1000;
    const transfersPerSecond = Math.round(loadResult.acknowledged.size / loadSeconds);
    print(`during ${loadSeconds.toFixed(1)} s of transfers (${transfersPerSecond}/s acknowledged, ${loadResult.violations.length} violations):`);
    print(`  as_of          ${JSON.stringify(reads.asOf)} ms`);
    print(`  statement page ${JSON.stringify(reads.statementPage)} ms`);
    print(`  non-200 answers ${JSON.stringify(reads.failures)}`);
    const csvUser = await seedCsvUser(h, config.csvRows);
    const csv = await streamCsv(`${url}/users/${csvUser.user}/statement?from=${encodeURIComponent(iso(csvUser.startMs))}`, spawned.child.child.pid!);
    print(`CSV of ${config.csvRows} entries: ${JSON.stringify(csv)}`);
    const result = { commit: currentCommit(), cpus: cpus().length, cpu: cpus()[0]?.model, config, seedSeconds, loadSeconds, transfersPerSecond, reads, csv };
    writeJsonFile(join(REPO_ROOT, '.run', 'bench-statements-result.json'), result);
  } finally {
    await child?.stop();
    await h.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
