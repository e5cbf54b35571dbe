/**
 * `make bench-events`: money events (ADR 10) on a private stack, measured, never asserted.
 *   1. Event lag, commit -> consumed: a downstream consumer (money-events-reader, on its own worker
 *      thread) reads the topic while a `make bench`-style transfer load runs at each of
 *      EVENTS_BENCH_CLIENTS (50 and 500 clients). Lag = the consumer's receive time - the event's
 *      `time`, which is the ledger row's created_at: set by transaction-service when it decides the
 *      batch, holding the rows' locks, just before the batch's one write statement and its COMMIT.
 *      So the lag includes that statement and the COMMIT's fsync, the NOTIFY, the relay's batch
 *      (claim, produce with acks=all, commit) and the consumer's fetch. Same machine, same clock.
 *   2. Relay throughput: the relay is restarted with MONEY_EVENTS_ENABLED=false, EVENTS_BENCH_BACKLOG
 *      ledger entries are written through the API (transfers: two entries each), then the relay is
 *      restarted with money events on and timed until its gauge money_events_backlog_events is 0.
 *   3. Unless EVENTS_BENCH_VERIFY=0: the whole topic is checked against the ledger (checkMoneyEvents).
 * Writes .run/bench-events-result.json.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Joi from 'joi';
import pg from 'pg';
import { defineConfig, sleep } from '@wallet/platform';
import { checkMoneyEvents, metricValue, percentile, REPO_ROOT, requestJson, runTransferLoad, uniqueName, type TransferLoadResult } from '@wallet/platform/testkit';
import { currentCommit, print, runToExit, summarizeLoad, writeJsonFile, type LoadSummary } from './bench-report';
import type { LagRecord, LagWorkerReply, LagWorkerRequest } from './money-events-lag-worker';
import { withPrivateStack, type PrivateStack } from './private-stack';
import { startProgressLine } from './progress-line';
import { createUsers, fundUsers, waitForArrival, type BenchUser } from './wallet-client';

const config = defineConfig({
  users: { env: 'EVENTS_BENCH_USERS', schema: Joi.number().integer().min(2).default(50) },
  transfers: { env: 'EVENTS_BENCH_TRANSFERS', schema: Joi.number().integer().min(1).default(10_000) },
  clients: { env: 'EVENTS_BENCH_CLIENTS', schema: Joi.string().pattern(/^\d+(,\d+)*$/).default('50,500') },
  backlog: { env: 'EVENTS_BENCH_BACKLOG', schema: Joi.number().integer().min(0).default(200_000) },
  backlogClients: { env: 'EVENTS_BENCH_BACKLOG_CLIENTS', schema: Joi.number().integer().min(1).default(100) },
  drainTimeoutMs: { env: 'EVENTS_BENCH_DRAIN_TIMEOUT_MS', schema: Joi.number().integer().min(1_000).default(900_000) },
  verify: { env: 'EVENTS_BENCH_VERIFY', schema: Joi.boolean().truthy('1').falsy('0').default(true) },
  resultFile: { env: 'EVENTS_BENCH_RESULT_FILE', schema: Joi.string().default(join(REPO_ROOT, '.run', 'bench-events-result.json')) },
}).load(process.env);

const note = (message: string) => process.stderr.write(`[bench-events] ${message}\n`);
const round = (n: number) => Math.round(n * 10) / 10;

/** The consumer on its worker thread; `drain` hands over what it received since the last call. */
interface LagConsumer {
  drain(): Promise<LagRecord[]>;
  stop(): Promise<void>;
}

function request(worker: Worker, message: LagWorkerRequest, answer: LagWorkerReply['kind'], timeoutMs: number): Promise<LagWorkerReply> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the lag consumer did not answer ${message.kind} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (reply: LagWorkerReply) => {
      if (reply.kind !== answer && reply.kind !== 'failed') return;
      clearTimeout(timer);
      worker.off('message', onMessage);
      if (reply.kind === 'failed') reject(new Error(reply.message));
      else resolve(reply);
    };
    worker.on('message', onMessage);
    worker.postMessage(message);
  });
}

async function startLagConsumer(topic: string): Promise<LagConsumer> {
  const worker = new Worker(join(__dirname, 'money-events-lag-worker.js'), { workerData: { topic } });
  // 'joined' comes unasked, once the group is joined: nothing before it would be seen at once.
  await request(worker, { kind: 'drain' }, 'joined', 60_000).catch(async (error: unknown) => {
    await worker.terminate();
    throw error;
  });
  return {
    drain: async () => {
      const reply = await request(worker, { kind: 'drain' }, 'drained', 30_000);
      return reply.kind === 'drained' ? reply.records : [];
    },
    stop: async () => {
      await request(worker, { kind: 'stop' }, 'stopped', 30_000).catch(() => undefined);
      await worker.terminate();
    },
  };
}

interface LagPhase {
  clients: number;
  load: LoadSummary;
  events: number;
  lagMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** How long after the load ended the last of its events was received. */
  tailMs: number;
  /**
   * The relay's own view of the same phase (its histogram money_events_publish_lag_seconds: the
   * outbox row's created_at, the batch transaction's start, to the produce call's return): the
   * share published within each bound, to tell the relay's part of the lag from the consumer's.
   */
  relayPublishedWithin: Record<string, number>;
}

const PUBLISH_LAG_BOUNDS = ['0.05', '0.1', '0.25', '0.5', '1'];

async function publishLagBuckets(relayUrl: string): Promise<Record<string, number>> {
  const response = await requestJson<unknown>(`${relayUrl}/metrics`, { timeoutMs: 5_000 });
  const bucket = (le: string) => metricValue(response.text, 'money_events_publish_lag_seconds_bucket', { le }) ?? 0;
  return Object.fromEntries([...PUBLISH_LAG_BOUNDS, '+Inf'].map((le) => [le, bucket(le)]));
}

/** One load at `clients`, then waits (bounded) for every event it made and takes their lag. */
async function measureLag(stack: PrivateStack, users: readonly BenchUser[], clients: number, lag: LagConsumer): Promise<LagPhase> {
  await lag.drain();
  const bucketsBefore = await publishLagBuckets(stack.relayUrl);
  const progress = startProgressLine(`transfers from ${clients} clients`, config.transfers);
  const from = Date.now();
  const load: TransferLoadResult = await runTransferLoad({
    txUrl: stack.txUrl,
    userIds: users.map((u) => u.userId),
    transfers: config.transfers,
    concurrency: clients,
    hotPairShare: 0.1,
    duplicateShare: 0.1,
    invalidShare: 0.02,
    maxAmountMinor: 1_000n,
    onProgress: (n) => progress.update(n),
  });
  const to = Date.now();
  progress.finish();
  // Two ledger entries per committed transfer, each with its created_at inside the load's window.
  const expected = 2 * load.acknowledged.size;
  const first = new Map<string, LagRecord>();
  const deadline = performance.now() + 120_000;
  while (first.size < expected && performance.now() < deadline) {
    for (const record of await lag.drain()) {
      if (record.timeMs >= from && record.timeMs <= to && !first.has(record.id)) first.set(record.id, record);
    }
    if (first.size < expected) await sleep(250);
  }
  if (first.size < expected) throw new Error(`only ${first.size} of ${expected} events of the ${clients}-client load arrived within 120 s`);
  const bucketsAfter = await publishLagBuckets(stack.relayUrl);
  const published = bucketsAfter['+Inf']! - bucketsBefore['+Inf']!;
  const relayPublishedWithin = Object.fromEntries(
    PUBLISH_LAG_BOUNDS.map((le) => [`${Number(le) * 1000} ms`, Number(((bucketsAfter[le]! - bucketsBefore[le]!) / Math.max(1, published)).toFixed(4))]),
  );
  const lags = [...first.values()].map((r) => r.receivedAt - r.timeMs).sort((a, b) => a - b);
  const lastReceived = Math.max(...[...first.values()].map((r) => r.receivedAt));
  return {
    clients,
    load: summarizeLoad(load, config.transfers),
    events: lags.length,
    lagMs: { p50: percentile(lags, 50), p90: percentile(lags, 90), p99: percentile(lags, 99), max: lags[lags.length - 1] ?? 0, mean: round(lags.reduce((a, b) => a + b, 0) / Math.max(1, lags.length)) },
    tailMs: lastReceived - to,
    relayPublishedWithin,
  };
}

async function scrapeBacklog(relayUrl: string): Promise<number | undefined> {
  const response = await requestJson<unknown>(`${relayUrl}/metrics`, { timeoutMs: 5_000 }).catch(() => undefined);
  return response?.status === 200 ? metricValue(response.text, 'money_events_backlog_events') : undefined;
}

async function countPending(txDatabaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: txDatabaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM money_events_pending');
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

interface DrainResult {
  backlog: number;
  buildSeconds: number;
  /** From the relay's spawn to the gauge reading 0. */
  drainSeconds: number;
  eventsPerSecond: number;
  /** Between the first gauge reading below the backlog and 0: the relay's pace without its start-up. */
  steadyEventsPerSecond: number;
  relayStartSeconds: number;
  samples: Array<{ atSeconds: number; backlog: number }>;
}

/** Builds the backlog with the relay's money source off, then times the drain with it on. */
async function measureDrain(stack: PrivateStack, users: readonly BenchUser[]): Promise<DrainResult> {
  await stack.restartRelay({ MONEY_EVENTS_ENABLED: 'false' });
  const before = await countPending(stack.txDatabaseUrl);
  const transfers = Math.ceil(config.backlog / 2);
  const progress = startProgressLine('backlog transfers (relay off)', transfers);
  const buildStarted = performance.now();
  const load = await runTransferLoad({
    txUrl: stack.txUrl,
    userIds: users.map((u) => u.userId),
    transfers,
    concurrency: config.backlogClients,
    hotPairShare: 0,
    duplicateShare: 0,
    invalidShare: 0,
    maxAmountMinor: 100n,
    onProgress: (n) => progress.update(n),
  });
  progress.finish();
  const buildSeconds = (performance.now() - buildStarted) / 1000;
  const backlog = await countPending(stack.txDatabaseUrl);
  note(`backlog: ${backlog} pending money events (${before} before; ${load.acknowledged.size} transfers committed); starting the relay`);

  const started = performance.now();
  await stack.restartRelay();
  const relayStartSeconds = (performance.now() - started) / 1000;
  const samples: DrainResult['samples'] = [];
  for (;;) {
    const value = await scrapeBacklog(stack.relayUrl);
    const atSeconds = (performance.now() - started) / 1000;
    if (value !== undefined) samples.push({ atSeconds: Number(atSeconds.toFixed(2)), backlog: value });
    if (value === 0) break;
    if (atSeconds * 1000 > config.drainTimeoutMs) throw new Error(`the backlog was not drained within ${config.drainTimeoutMs} ms (last reading ${value})`);
    await sleep(200);
  }
  const drainSeconds = samples[samples.length - 1]!.atSeconds;
  const firstMoving = samples.find((s) => s.backlog < backlog) ?? samples[0]!;
  const steadySeconds = drainSeconds - firstMoving.atSeconds;
  return {
    backlog,
    buildSeconds: round(buildSeconds),
    drainSeconds,
    eventsPerSecond: Math.round(backlog / drainSeconds),
    steadyEventsPerSecond: steadySeconds > 0 ? Math.round(firstMoving.backlog / steadySeconds) : 0,
    relayStartSeconds: Number(relayStartSeconds.toFixed(2)),
    samples,
  };
}

async function prepareUsers(stack: PrivateStack, runId: string): Promise<BenchUser[]> {
  const users = await createUsers({ userUrl: stack.userUrl, count: config.users, emailPrefix: runId });
  const arrival = await waitForArrival({ txUrl: stack.txUrl, userIds: users.map((u) => u.userId), timeoutMs: 120_000 });
  if (arrival.missing.length > 0) throw new Error(`${arrival.missing.length} users never reached transaction-service`);
  // Enough for every load here: no wallet runs dry, so every transfer is a real money movement.
  await fundUsers({ txUrl: stack.txUrl, userIds: users.map((u) => u.userId), amountMinor: 100_000_000n });
  return users;
}

async function runBenchEvents(stack: PrivateStack, runId: string): Promise<Record<string, unknown>> {
  const users = await prepareUsers(stack, runId);
  const lag = await startLagConsumer(stack.moneyEventsTopic);
  const phases: LagPhase[] = [];
  try {
    // The funding's events first: the consumer is really fetching before anything is timed.
    const funded = new Set<string>();
    const deadline = performance.now() + 60_000;
    while (funded.size < users.length && performance.now() < deadline) {
      for (const r of await lag.drain()) funded.add(r.id);
      await sleep(200);
    }
    if (funded.size < users.length) throw new Error(`only ${funded.size} of ${users.length} funding events were consumed within 60 s`);
    for (const clients of config.clients.split(',').map(Number)) {
      const phase = await measureLag(stack, users, clients, lag);
      phases.push(phase);
      print(`  ${clients} clients: ${phase.load.transfersPerSecond} transfers/s, request p99 ${phase.load.latencyMs.p99} ms; event lag p50 ${phase.lagMs.p50} ms, p90 ${phase.lagMs.p90} ms, p99 ${phase.lagMs.p99} ms, max ${phase.lagMs.max} ms over ${phase.events} events; relay published within ${Object.entries(phase.relayPublishedWithin).map(([b, share]) => `${b}: ${(share * 100).toFixed(1)}%`).join(', ')}`);
    }
  } finally {
    // Stopped before the drain: the relay's throughput is measured without a consumer competing for the two cores.
    await lag.stop();
  }
  const drain = config.backlog > 0 ? await measureDrain(stack, users) : undefined;
  if (drain) print(`  relay drain: ${drain.backlog} events in ${drain.drainSeconds} s from its start = ${drain.eventsPerSecond} events/s (${drain.steadyEventsPerSecond} events/s once draining)`);
  let verified: { ok: boolean; detail: string } | undefined;
  if (config.verify) {
    note('checking the whole topic against the ledger');
    const check = await checkMoneyEvents({ topic: stack.moneyEventsTopic, txUrl: stack.txUrl, userIds: users.map((u) => u.userId), timeoutMs: 600_000 });
    verified = { ok: check.ok, detail: check.detail };
    print(`  ${check.ok ? 'OK  ' : 'FAIL'} ${check.name}: ${check.detail}`);
  }
  return { phases, drain, verified };
}

async function main(): Promise<number> {
  const runId = uniqueName('bench-events').replace(/_/g, '-');
  const machine = { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? 'unknown', memory_gb: Math.round(totalmem() / 2 ** 30) };
  print([
    `make bench-events: ${config.users} users; lag at ${config.clients} clients (${config.transfers} transfers each); relay drain of ${config.backlog} events`,
    `  commit ${currentCommit()}; ${machine.cpus} cores (${machine.cpu_model}), ${machine.memory_gb} GiB, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`,
  ]);
  return withPrivateStack({ logLevel: 'warn', relayMaxBackoffMs: 5_000, name: 'benchevents' }, async (stack) => {
    const measured = await runBenchEvents(stack, runId);
    const result = { kind: 'bench-events', run_id: runId, finished_at: new Date().toISOString(), commit: currentCommit(), machine, loadavg_after: loadavg(), config, ...measured };
    writeJsonFile(config.resultFile, result);
    print(`result written to ${config.resultFile}`);
    return (measured.verified as { ok: boolean } | undefined)?.ok === false ? 1 : 0;
  });
}

runToExit('bench-events', main);
