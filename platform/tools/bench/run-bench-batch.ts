/**
 * `make bench BENCH_MODE=batch`: POST /batch and the client's automatic batching against single
 * requests, through @wallet/client (the repository's one HTTP client of the API), in the same run:
 *   - single:       BENCH_CONCURRENCY (500) callers, each awaiting one transfer() after another;
 *   - auto-batch:   the same callers and calls, on a client with autoBatch (one POST /batch per tick);
 *   - batch-N-uniform / batch-N-hot: senders of POST /batch with N = 100 and 1000 transfers each
 *     (uniform pairs, or every transfer on one pair): 40 senders of 100, 10 senders of 1000.
 * Every mode moves the same number of transfers; the modes alternate over BENCH_BATCH_ROUNDS rounds
 * (3) and the median of each is reported (the machine is shared and noisy: compare within a run).
 * Then the books: the total is conserved, no balance is negative, the reconciliation finds nothing.
 */
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { WalletApiError, WalletClient, formatAmount } from '@wallet/client';
import { percentile, type BooksCheck } from '@wallet/platform/testkit';
import type { BenchConfig } from './bench-config';
import { currentCommit, formatChecks, print, writeJsonFile } from './bench-report';
import { createUsers, mapWithConcurrency, runReconciliation, waitForArrival } from './wallet-client';

export interface BatchBenchTarget {
  userUrl: string;
  txUrl: string;
  txOperatorUrl: string;
  txDatabaseUrl: string;
}

type Mode = 'single' | 'auto-batch' | 'batch-100-uniform' | 'batch-100-hot' | 'batch-1000-uniform' | 'batch-1000-hot';
const MODES: Mode[] = ['single', 'auto-batch', 'batch-100-uniform', 'batch-100-hot', 'batch-1000-uniform', 'batch-1000-hot'];

interface Transfer {
  from: string;
  to: string;
  amountMinor: bigint;
}

interface ModeRun {
  mode: Mode;
  round: number;
  transfers: number;
  seconds: number;
  transfersPerSecond: number;
  /** Latency of one call: a transfer() for the client modes, a whole POST /batch for the batch modes. */
  p50Ms: number;
  p99Ms: number;
  statuses: Record<string, number>;
}

function plan(users: string[], count: number, hot: boolean, maxAmountMinor: bigint): Transfer[] {
  return Array.from({ length: count }, (_, i) => {
    if (hot) return i % 2 === 0 ? { from: users[0]!, to: users[1]!, amountMinor: 1n + BigInt(i % Number(maxAmountMinor)) } : { from: users[1]!, to: users[0]!, amountMinor: 1n + BigInt(i % Number(maxAmountMinor)) };
    const from = users[Math.floor(Math.random() * users.length)]!;
    let to = from;
    while (to === from) to = users[Math.floor(Math.random() * users.length)]!;
    return { from, to, amountMinor: 1n + BigInt(Math.floor(Math.random() * Number(maxAmountMinor))) };
  });
}

const request = (t: Transfer) => ({ from_user_id: t.from, to_user_id: t.to, amount_to_transfer: formatAmount(t.amountMinor) });

/** Callers each awaiting one transfer() after another (the client retries 503s with the same key). */
async function runCallers(client: WalletClient, transfers: Transfer[], concurrency: number, latencies: number[], statuses: Map<string, number>): Promise<void> {
  await mapWithConcurrency(transfers, concurrency, async (t) => {
    const started = performance.now();
    const outcome = await client.transfer(request(t)).then(
      () => '201',
      (error: unknown) => (error instanceof WalletApiError ? String(error.status) : 'error'),
    );
    latencies.push(performance.now() - started);
    statuses.set(outcome, (statuses.get(outcome) ?? 0) + 1);
  });
}

/** Senders of POST /batch with `size` transfers each. */
async function runBatches(client: WalletClient, transfers: Transfer[], size: number, latencies: number[], statuses: Map<string, number>): Promise<void> {
  const batches = Array.from({ length: Math.ceil(transfers.length / size) }, (_, i) => transfers.slice(i * size, (i + 1) * size));
  // Batches of 1,000 from 10 concurrent senders (the shape whose p99 the issue asks for); smaller
  // batches from enough senders to keep ~4,000 operations in flight.
  const senders = size >= 1_000 ? 10 : Math.max(2, Math.floor(4_000 / size));
  await mapWithConcurrency(batches, senders, async (batch) => {
    const started = performance.now();
    const results = await client.batch(batch.map((t) => ({ op: 'transfer' as const, idempotency_key: randomUUID(), ...request(t) })));
    latencies.push(performance.now() - started);
    for (const r of results) statuses.set(String(r.status), (statuses.get(String(r.status)) ?? 0) + 1);
  });
}

async function runMode(mode: Mode, round: number, clients: { plain: WalletClient; auto: WalletClient }, users: string[], config: BenchConfig): Promise<ModeRun> {
  const hot = mode.endsWith('-hot');
  const transfers = plan(users, config.transfers, hot, config.maxAmountMinor);
  const latencies: number[] = [];
  const statuses = new Map<string, number>();
  const started = performance.now();
  if (mode === 'single') await runCallers(clients.plain, transfers, config.concurrency, latencies, statuses);
  else if (mode === 'auto-batch') await runCallers(clients.auto, transfers, config.concurrency, latencies, statuses);
  else await runBatches(clients.plain, transfers, mode.startsWith('batch-1000') ? 1_000 : 100, latencies, statuses);
  const seconds = (performance.now() - started) / 1_000;
  latencies.sort((a, b) => a - b);
  return {
    mode,
    round,
    transfers: transfers.length,
    seconds,
    transfersPerSecond: transfers.length / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    statuses: Object.fromEntries(statuses),
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

async function booksChecks(client: WalletClient, users: string[], fundedMinor: bigint, target: BatchBenchTarget): Promise<BooksCheck[]> {
  const balances = await mapWithConcurrency(users, 20, async (u) => BigInt((await client.balance(u)).balance.replace('.', '')));
  const total = balances.reduce((a, b) => a + b, 0n);
  return [
    { name: 'total is conserved', ok: total === fundedMinor * BigInt(users.length), detail: `${formatAmount(total)} of ${formatAmount(fundedMinor * BigInt(users.length))}` },
    { name: 'no balance is negative', ok: balances.every((b) => b >= 0n), detail: `${balances.filter((b) => b < 0n).length} negative` },
    (await runReconciliation(target.txOperatorUrl, target.txDatabaseUrl)).check,
  ];
}

export async function runBatchBench(config: BenchConfig, target: BatchBenchTarget): Promise<number> {
  const rounds = Number(process.env.BENCH_BATCH_ROUNDS ?? 3);
  print([`make bench BENCH_MODE=batch: ${config.users} users, ${config.transfers} transfers per mode and round, ${rounds} rounds`, `  modes: ${MODES.join(', ')}; ${config.concurrency} callers in the client modes`]);
  const created = await createUsers({ userUrl: target.userUrl, count: config.users, emailPrefix: `bench-batch-${randomUUID().slice(0, 8)}` });
  const users = created.map((u) => u.userId);
  const arrival = await waitForArrival({ txUrl: target.txUrl, userIds: users, timeoutMs: config.arrivalTimeoutMs });
  if (arrival.missing.length > 0) throw new Error(`${arrival.missing.length} users never reached transaction-service`);
  const plain = new WalletClient({ transactionServiceUrl: target.txUrl, userServiceUrl: target.userUrl });
  const auto = new WalletClient({ transactionServiceUrl: target.txUrl, userServiceUrl: target.userUrl, autoBatch: { maxOperations: 100 } });
  try {
    await plain.batch(users.map((u) => ({ op: 'add-money' as const, user_id: u, amount: formatAmount(config.fundingMinor) })));
    const runs: ModeRun[] = [];
    for (let round = 1; round <= rounds; round += 1) {
      // Alternate the order, so no mode always runs on the freshest (or the most vacuum-lagged) tables.
      for (const mode of round % 2 === 1 ? MODES : [...MODES].reverse()) {
        const run = await runMode(mode, round, { plain, auto }, users, config);
        process.stderr.write(`round ${round} ${mode}: ${run.transfersPerSecond.toFixed(0)} transfers/s, p50 ${run.p50Ms.toFixed(0)} ms, p99 ${run.p99Ms.toFixed(0)} ms ${JSON.stringify(run.statuses)}\n`);
        runs.push(run);
      }
    }
    const summary = MODES.map((mode) => {
      const mine = runs.filter((r) => r.mode === mode);
      return { mode, transfers_per_second: median(mine.map((r) => r.transfersPerSecond)), p50_ms: median(mine.map((r) => r.p50Ms)), p99_ms: median(mine.map((r) => r.p99Ms)) };
    });
    const checks = await booksChecks(plain, users, config.fundingMinor, target);
    const single = summary[0]!.transfers_per_second;
    print(['', 'Medians (transfers/s; latency of one call)', ...summary.map((s) => `  ${s.mode.padEnd(20)} ${s.transfers_per_second.toFixed(0).padStart(7)}/s  ${(s.transfers_per_second / single).toFixed(2)}x single  p50 ${s.p50_ms.toFixed(0)} ms  p99 ${s.p99_ms.toFixed(0)} ms`)]);
    print(['', 'Invariants', ...formatChecks(checks)]);
    const ok = checks.every((c) => c.ok);
    const file = process.env.BENCH_BATCH_RESULT_FILE ?? config.resultFile.replace(/bench-result\.json$/, 'bench-batch-result.json');
    writeJsonFile(file, { kind: 'bench-batch', finished_at: new Date().toISOString(), commit: currentCommit(), machine: { cpus: cpus().length }, config: { users: config.users, transfers: config.transfers, concurrency: config.concurrency, rounds }, summary, runs, invariants: checks, ok });
    print(['', ok ? 'all invariants hold' : 'INVARIANT VIOLATED', `result written to ${file}`]);
    return ok ? 0 : 1;
  } finally {
    plain.close();
    auto.close();
  }
}
