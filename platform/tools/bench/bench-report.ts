import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { percentile, REPO_ROOT, type BooksCheck, type TransferLoadResult } from '@wallet/platform/testkit';

export interface LoadSummary {
  elapsedSeconds: number;
  /** Logical transfers sent (a duplicate's copies count once, invalid requests count). */
  operations: number;
  /** Transfers committed (answered 201), per second of the load phase: comparable to pgbench's tps. */
  transfersPerSecond: number;
  operationsPerSecond: number;
  httpRequests: number;
  requestsPerSecond: number;
  acknowledged: number;
  rejectedInsufficient: number;
  retries: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number; mean: number };
  /** Every HTTP response by status; 0 = no response (connection refused/reset, client timeout). */
  httpStatus: Record<string, number>;
  /** The definitive outcome of each logical transfer (and each duplicate copy), by status. */
  outcomes: Record<string, number>;
}

export function summarizeLoad(load: TransferLoadResult, operations: number): LoadSummary {
  const sorted = load.samples.map((s) => s.ms).sort((a, b) => a - b);
  const seconds = load.elapsedMs / 1000;
  const httpStatus: Record<string, number> = {};
  for (const s of load.samples) httpStatus[String(s.status)] = (httpStatus[String(s.status)] ?? 0) + 1;
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    elapsedSeconds: round(seconds),
    operations,
    transfersPerSecond: round(load.acknowledged.size / seconds),
    operationsPerSecond: round(operations / seconds),
    httpRequests: load.samples.length,
    requestsPerSecond: round(load.samples.length / seconds),
    acknowledged: load.acknowledged.size,
    rejectedInsufficient: load.rejectedInsufficient,
    retries: load.retries,
    latencyMs: {
      p50: round(percentile(sorted, 50)),
      p95: round(percentile(sorted, 95)),
      p99: round(percentile(sorted, 99)),
      max: round(sorted[sorted.length - 1] ?? 0),
      mean: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
    },
    httpStatus,
    outcomes: Object.fromEntries([...load.statusCounts.entries()].sort(([a], [b]) => a - b).map(([k, v]) => [String(k), v])),
  };
}

export function formatLoadSummary(s: LoadSummary): string[] {
  return [
    `  load phase          ${s.elapsedSeconds} s`,
    `  throughput          ${s.transfersPerSecond} transfers/s committed (${s.acknowledged} transfers), ${s.operationsPerSecond} operations/s, ${s.requestsPerSecond} HTTP requests/s`,
    `  latency (all HTTP)  p50 ${s.latencyMs.p50} ms   p95 ${s.latencyMs.p95} ms   p99 ${s.latencyMs.p99} ms   max ${s.latencyMs.max} ms   mean ${s.latencyMs.mean} ms`,
    `  HTTP responses      ${Object.entries(s.httpStatus).map(([k, v]) => `${k === '0' ? 'no-response' : k}: ${v}`).join('  ')}`,
    `  outcomes            ${Object.entries(s.outcomes).map(([k, v]) => `${k}: ${v}`).join('  ')}  (insufficient funds: ${s.rejectedInsufficient}, retried ambiguous: ${s.retries})`,
  ];
}

export function formatChecks(checks: readonly BooksCheck[]): string[] {
  return checks.map((c) => `  ${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
}

export function writeJsonFile(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
}

export function print(lines: string | readonly string[]): void {
  process.stdout.write(`${(typeof lines === 'string' ? [lines] : lines).join('\n')}\n`);
}

export interface TargetResult {
  name: string;
  met: boolean;
  detail: string;
}

/** The published targets (BENCHMARKS.md). Missing one is reported, not an invariant failure. */
export function evaluateTargets(summary: LoadSummary): TargetResult[] {
  const errors = Object.entries(summary.httpStatus)
    .filter(([status]) => status === '0' || Number(status) >= 500)
    .reduce((n, [, count]) => n + count, 0);
  return [
    { name: 'p99 latency < 250 ms', met: summary.latencyMs.p99 < 250, detail: `p99 ${summary.latencyMs.p99} ms` },
    {
      name: 'no errors (no 5xx, no unanswered request, no retry needed)',
      met: errors === 0 && summary.retries === 0,
      detail: `${errors} errors, ${summary.retries} retries`,
    },
  ];
}

export function formatTargets(targets: readonly TargetResult[]): string[] {
  return targets.map((t) => `  ${t.met ? 'MET ' : 'MISS'}  ${t.name}: ${t.detail}`);
}

/** The checked-out commit (with `+dirty` when the tree has changes), so a number names its code. */
export function currentCommit(): string | undefined {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 5_000 });
  const head = git('rev-parse', '--short', 'HEAD');
  if (head.status !== 0) return undefined;
  const dirty = git('status', '--porcelain', '--untracked-files=no').stdout.trim() !== '';
  return `${head.stdout.trim()}${dirty ? '+dirty' : ''}`;
}

/** Runs a bench's main and exits with its code (0 when it returns none), or with 1 after saying why it failed. */
export function runToExit(what: string, main: () => Promise<number | void>): void {
  main().then(
    (code) => process.exit(code ?? 0),
    (error: unknown) => {
      process.stderr.write(`${what} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
