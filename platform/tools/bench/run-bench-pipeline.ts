/**
 * `make bench-pipeline`: the event pipeline and the balance reads at throughput, on a private stack
 * (its own processes, databases, topic, group and subject; see private-stack.ts):
 *   1. users: BENCH_PIPELINE_USERS created through POST /users from BENCH_PIPELINE_CLIENTS clients;
 *      creation rate, arrival rate, lag (user-service's created_at -> transaction-service's
 *      received_at, both stamped on this machine's clock) p50/p99, and how long after the last 201
 *      the last user arrived; then BENCH_PIPELINE_BURST users created at once, their lag p50/p99;
 *   2. GET /balance open-loop (requests sent on schedule, latency counted from the scheduled time, so
 *      a slow answer cannot slow the offered load) at each of BENCH_PIPELINE_BALANCE_RATES req/s;
 *   3. replay: transaction-service stopped, the outbox replayed with the replay CLI until
 *      BENCH_PIPELINE_REPLAY_EVENTS events are on the topic (the relay alone: events/s), then
 *      transaction-service started and its consumer timed through them (the consumer alone: events/s,
 *      from its first committed offset to the end of the topic);
 *   4. flood: BENCH_PIPELINE_FLOOD_MESSAGES published on the balance subject as fast as one NATS
 *      client can (each with a reply subject nobody listens to: every one asks for work), while 10
 *      clients add money: add-money p50/p99 and statuses, transaction-service RSS (it runs with
 *      --max-old-space-size=BENCH_PIPELINE_TX_HEAP_MB), consumer-group membership, /healthz.
 * BENCH_PIPELINE_ROOT runs another checkout's compiled entry points (to measure a before).
 * Prints a report and writes .run/bench-pipeline-result.json.
 */
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { cpus, loadavg, totalmem } from 'node:os';
import Joi from 'joi';
import { connect } from 'nats';
import pg from 'pg';
import { defineConfig, OUTBOX_TABLE, natsInboxPrefix, sleep } from '@wallet/platform';
import { metricValue, percentile, requestJson, scrapeMetrics, serviceCredentialsEnv, testKafka, testNatsLogin, TEST_NATS_URL, uniqueName, REPO_ROOT } from '@wallet/platform/testkit';
import { currentCommit, print, runToExit, writeJsonFile } from './bench-report';
import { writeHtmlReport } from './html-report';
import { withPrivateStack, type PrivateStack } from './private-stack';
import { createUser, mapWithConcurrency, type BenchUser } from './wallet-client';

interface PipelineBenchConfig {
  users: number;
  clients: number;
  burst: number;
  balanceRates: string;
  balanceSeconds: number;
  replayEvents: number;
  floodMessages: number;
  floodTimeoutMs: number;
  txHeapMb: number;
  root: string;
}

const config = defineConfig<PipelineBenchConfig>({
  users: { env: 'BENCH_PIPELINE_USERS', schema: Joi.number().integer().min(1).max(100_000).default(2_000) },
  clients: { env: 'BENCH_PIPELINE_CLIENTS', schema: Joi.number().integer().min(1).max(1_000).default(100) },
  burst: { env: 'BENCH_PIPELINE_BURST', schema: Joi.number().integer().min(1).max(1_000).default(50) },
  balanceRates: { env: 'BENCH_PIPELINE_BALANCE_RATES', schema: Joi.string().pattern(/^\d+(,\d+)*$/).default('500,1000,2000,3000') },
  balanceSeconds: { env: 'BENCH_PIPELINE_BALANCE_SECONDS', schema: Joi.number().integer().min(1).max(120).default(5) },
  replayEvents: { env: 'BENCH_PIPELINE_REPLAY_EVENTS', schema: Joi.number().integer().min(0).max(1_000_000).default(20_000) },
  floodMessages: { env: 'BENCH_PIPELINE_FLOOD_MESSAGES', schema: Joi.number().integer().min(0).max(5_000_000).default(100_000) },
  floodTimeoutMs: { env: 'BENCH_PIPELINE_FLOOD_TIMEOUT_MS', schema: Joi.number().integer().min(1_000).default(90_000) },
  txHeapMb: { env: 'BENCH_PIPELINE_TX_HEAP_MB', schema: Joi.number().integer().min(64).default(256) },
  root: { env: 'BENCH_PIPELINE_ROOT', schema: Joi.string().default(REPO_ROOT) },
}).load();


function stats(values: readonly number[]): { n: number; p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 10) / 10;
  // No sample: NaN (JSON null), not the 0 a percentile of nothing would suggest.
  const at = (p: number) => (sorted.length === 0 ? Number.NaN : percentile(sorted, p));
  return { n: sorted.length, p50: round(at(50)), p99: round(at(99)), max: round(sorted[sorted.length - 1] ?? Number.NaN) };
}

function countStatuses(statuses: readonly number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of statuses) counts[String(s)] = (counts[String(s)] ?? 0) + 1;
  return counts;
}

async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'bench-pipeline' });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

/** Waits until every user is in transaction-service's table; returns their lags and arrival times. */
async function arrivals(stack: PrivateStack, userIds: string[], timeoutMs = 300_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await query<{ created_at: Date; received_at: Date }>(
      stack.txDatabaseUrl,
      'SELECT created_at, received_at FROM users WHERE user_id = ANY($1::uuid[])',
      [userIds],
    );
    if (rows.length === userIds.length) {
      const lags = rows.map((r) => r.received_at.getTime() - r.created_at.getTime());
      return {
        lags,
        firstCreated: Math.min(...rows.map((r) => r.created_at.getTime())),
        lastReceived: Math.max(...rows.map((r) => r.received_at.getTime())),
      };
    }
    if (Date.now() > deadline) throw new Error(`only ${rows.length} of ${userIds.length} users arrived`);
    await sleep(25);
  }
}

/** Where the lag is spent: until the relay's batch transaction began, and from there to the consumer's insert. */
async function splitLag(stack: PrivateStack, userIds: string[]) {
  const published = await query<{ aggregate_id: string; created_at: Date; published_at: Date }>(
    stack.userDatabaseUrl,
    `SELECT aggregate_id, created_at, published_at FROM ${OUTBOX_TABLE} WHERE aggregate_id = ANY($1::text[])`,
    [userIds],
  );
  const received = new Map(
    (await query<{ user_id: string; received_at: Date }>(stack.txDatabaseUrl, 'SELECT user_id, received_at FROM users WHERE user_id = ANY($1::uuid[])', [userIds])).map(
      (r) => [r.user_id, r.received_at.getTime()],
    ),
  );
  return {
    relay: stats(published.map((r) => r.published_at.getTime() - r.created_at.getTime())),
    consumer: stats(published.map((r) => (received.get(r.aggregate_id) ?? Number.NaN) - r.published_at.getTime())),
  };
}

/** Creates users from `clients` concurrent clients; each user with the client-side time of its 201. */
async function createTimed(stack: PrivateStack, prefix: string, count: number, clients: number) {
  const at201 = new Map<string, number>();
  const users = await mapWithConcurrency(
    Array.from({ length: count }, (_, i) => i),
    clients,
    async (i) => {
      const email = `${prefix}-${i}@bench.example.com`;
      const user = await createUser(stack.userUrl, email).catch(async (error: unknown) => {
        // An attempt that timed out on an overloaded machine did commit (409 on the retry): the
        // bench, unlike a client, may read user-service's database to learn the id.
        if (!(error instanceof Error) || !/409 after an unanswered attempt/.test(error.message)) throw error;
        const [row] = await query<{ user_id: string }>(stack.userDatabaseUrl, 'SELECT user_id FROM users WHERE email = $1', [email]);
        if (!row) throw error;
        return { userId: row.user_id, email };
      });
      at201.set(user.userId, Date.now());
      return user;
    },
  );
  return { users, at201 };
}

/** Lag from each user's 201 to its row in transaction-service (negative: it was there before the 201 reached the client). */
async function lagAfter201(stack: PrivateStack, at201: Map<string, number>) {
  const rows = await query<{ user_id: string; received_at: Date }>(
    stack.txDatabaseUrl,
    'SELECT user_id, received_at FROM users WHERE user_id = ANY($1::uuid[])',
    [[...at201.keys()]],
  );
  return stats(rows.map((r) => r.received_at.getTime() - at201.get(r.user_id)!));
}

async function benchUsers(stack: PrivateStack, runId: string) {
  const started = Date.now();
  const { users, at201 } = await createTimed(stack, `${runId}-u`, config.users, config.clients);
  const last201 = Math.max(...at201.values());
  const createSeconds = (last201 - started) / 1000;
  const ids = users.map((u) => u.userId);
  const arrived = await arrivals(stack, ids);
  const lag = stats(arrived.lags);
  const after201 = await lagAfter201(stack, at201);
  const split = await splitLag(stack, ids);
  const result = {
    users: config.users,
    clients: config.clients,
    creationPerSecond: Math.round(config.users / createSeconds),
    arrivalPerSecond: Math.round(config.users / ((arrived.lastReceived - arrived.firstCreated) / 1000)),
    lastArrivalAfterLast201Ms: arrived.lastReceived - last201,
    lagAfter201Ms: after201,
    lagFromCreatedAtMs: lag,
    relayLagMs: split.relay,
    consumerLagMs: split.consumer,
  };
  print([
    `users: ${result.users} from ${result.clients} clients: created ${result.creationPerSecond}/s, arrived ${result.arrivalPerSecond}/s; ` +
      `last arrival ${result.lastArrivalAfterLast201Ms} ms after the last 201`,
    `  lag after its 201: p50 ${after201.p50} ms p99 ${after201.p99} ms; from created_at: p50 ${lag.p50} ms p99 ${lag.p99} ms`,
    `  created_at -> relay's transaction start: p50 ${split.relay.p50} ms p99 ${split.relay.p99} ms; ` +
      `-> in transaction-service: p50 ${split.consumer.p50} ms p99 ${split.consumer.p99} ms`,
  ]);

  await sleep(500);
  const burst = await createTimed(stack, `${runId}-b`, config.burst, config.burst);
  await arrivals(stack, burst.users.map((u) => u.userId));
  const burstLag = await lagAfter201(stack, burst.at201);
  print(`burst: ${config.burst} users at once: lag after the 201 p50 ${burstLag.p50} ms p99 ${burstLag.p99} ms max ${burstLag.max} ms`);
  return { users: [...users, ...burst.users], result: { ...result, burst: { users: config.burst, lagAfter201Ms: burstLag } } };
}

/** Open loop: request i is sent at start + i/rate whatever happened to the earlier ones. */
async function benchBalances(stack: PrivateStack, users: BenchUser[]) {
  const get = (email: string): Promise<number> =>
    requestJson<unknown>(`${stack.userUrl}/balance?email=${encodeURIComponent(email)}`, { timeoutMs: 10_000 }).then(
      (response) => response.status,
      () => 0,
    );
  const results = [];
  for (const rate of config.balanceRates.split(',').map(Number)) {
    const total = rate * config.balanceSeconds;
    const latencies: number[] = [];
    const statuses: number[] = [];
    const inFlight: Array<Promise<void>> = [];
    const start = performance.now();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
      for (; sent < due; sent += 1) {
        const scheduled = start + (sent / rate) * 1000;
        const email = users[sent % users.length]!.email;
        inFlight.push(
          get(email).then((status) => {
            latencies.push(performance.now() - scheduled);
            statuses.push(status);
          }),
        );
      }
      await sleep(2);
    }
    await Promise.all(inFlight);
    const latency = stats(latencies);
    const entry = { rate, requests: total, latencyMs: latency, statuses: countStatuses(statuses) };
    results.push(entry);
    print(`GET /balance at ${rate}/s for ${config.balanceSeconds} s: p50 ${latency.p50} ms p99 ${latency.p99} ms; statuses ${JSON.stringify(entry.statuses)}`);
    await sleep(1_000);
  }
  const capacity = results
    .filter((r) => r.latencyMs.p99 < 100 && Object.keys(r.statuses).every((s) => Number(s) < 500))
    .reduce((best, r) => Math.max(best, r.rate), 0);
  print(`GET /balance capacity (highest rate tried with p99 < 100 ms and no 5xx): ${capacity}/s`);
  return { rates: results, capacity };
}

function runReplayCli(databaseUrl: string, since: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(config.root, 'outbox-relay', 'dist', 'src', 'entry-points', 'replay-outbox.js'), '--since', since],
      // The relay's config (the CLI's too) reads its broker credentials.
      {
        env: { PATH: process.env.PATH ?? '', ...serviceCredentialsEnv('outbox-relay'), DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('exit', (code) => {
      const requeued = /requeued (\d+)/.exec(out);
      if (code === 0 && requeued) resolve(Number(requeued[1]));
      else reject(new Error(`replay-outbox exited ${code}: ${out}`));
    });
  });
}

async function benchReplay(stack: PrivateStack, since: string) {
  if (config.replayEvents === 0) return undefined;
  const kafka = testKafka('bench-pipeline', 'admin');
  const admin = kafka.admin();
  await admin.connect();
  try {
    const committedSum = async (): Promise<number> => {
      const [offsets] = await admin.fetchOffsets({ groupId: stack.consumerGroup, topics: [stack.topic] });
      return (offsets?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
    };
    const endSum = async (): Promise<number> =>
      (await admin.fetchTopicOffsets(stack.topic)).reduce((sum, p) => sum + Number(p.high), 0);

    await stack.stopTransactionService();
    // The relay alone: requeue (the replay CLI) and wait until the outbox is drained, until enough.
    let replayed = 0;
    let relayMs = 0;
    while (replayed < config.replayEvents) {
      // Timed from the requeue's commit (the CLI's own start-up is not the relay's work).
      const requeued = await runReplayCli(stack.userDatabaseUrl, since);
      const started = performance.now();
      if (requeued === 0) throw new Error('the replay requeued nothing');
      for (;;) {
        const [row] = await query<{ n: string }>(stack.userDatabaseUrl, `SELECT count(*) AS n FROM ${OUTBOX_TABLE} WHERE published_at IS NULL`);
        if (Number(row?.n) === 0) break;
        await sleep(10);
      }
      relayMs += performance.now() - started;
      replayed += requeued;
    }
    const relayPerSecond = Math.round(replayed / (relayMs / 1000));
    print(`relay alone: ${replayed} events replayed and published at ${relayPerSecond}/s (replay CLI + relay to Kafka, acks=all)`);

    // The consumer alone: everything is on the topic; time it from its first commit to the end.
    const base = await committedSum();
    const end = await endSum();
    const startedAt = performance.now();
    await stack.startTransactionService();
    let firstMove: number | undefined;
    let firstMoveValue = base;
    const deadline = Date.now() + 600_000;
    for (;;) {
      const now = await committedSum();
      if (firstMove === undefined && now > base) {
        firstMove = performance.now();
        firstMoveValue = now;
      }
      if (now >= end) break;
      if (Date.now() > deadline) throw new Error(`the consumer did not reach the end (${now} of ${end})`);
      await sleep(20);
    }
    const doneAt = performance.now();
    // From the first commit on: the rate of applying, without the group join (seconds, either version).
    const measured = end - firstMoveValue;
    const consumerPerSecond = firstMove !== undefined && doneAt > firstMove ? Math.round(measured / ((doneAt - firstMove) / 1000)) : undefined;
    const withStartPerSecond = Math.round((end - base) / ((doneAt - startedAt) / 1000));
    print(
      `consumer alone: ${end - base} events (duplicates of applied ones) at ${consumerPerSecond ?? 'n/a'}/s from its first commit ` +
        `(${withStartPerSecond}/s including start-up and group join)`,
    );
    return { events: end - base, relayPerSecond, consumerPerSecond, consumerWithStartPerSecond: withStartPerSecond };
  } finally {
    await admin.disconnect();
  }
}

function rssMb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

async function scrapeHandled(txUrl: string): Promise<number | undefined> {
  try {
    const text = await scrapeMetrics(txUrl, 2_000);
    return (metricValue(text, 'nats_balance_requests_answered_total') ?? 0) + (metricValue(text, 'nats_balance_requests_dropped_total') ?? 0);
  } catch {
    return undefined;
  }
}

async function addMoneyLoop(txUrl: string, userIds: string[], clients: number, running: () => boolean) {
  const latencies: number[] = [];
  const statuses: number[] = [];
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; running(); i += 1) {
        const started = performance.now();
        let status = 0;
        try {
          const response = await requestJson<unknown>(`${txUrl}/add-money`, {
            body: { user_id: userIds[(c * 7 + i) % userIds.length], amount: '1.00' },
            headers: { 'Idempotency-Key': randomUUID() },
            timeoutMs: 30_000,
          });
          status = response.status;
        } catch {
          status = 0;
        }
        latencies.push(performance.now() - started);
        statuses.push(status);
        // Refused at once (the process is gone): do not spin.
        if (status === 0) await sleep(50);
      }
    }),
  );
  return { latencyMs: stats(latencies), statuses: countStatuses(statuses) };
}

async function benchFlood(stack: PrivateStack, userIds: string[]) {
  if (config.floodMessages === 0) return undefined;
  const clients = 10;
  let quiet = true;
  const baseline = addMoneyLoop(stack.txUrl, userIds, clients, () => quiet);
  await sleep(3_000);
  quiet = false;
  const before = await baseline;
  print(`add-money without a flood (${clients} clients, 3 s): p50 ${before.latencyMs.p50} ms p99 ${before.latencyMs.p99} ms ${JSON.stringify(before.statuses)}`);

  const kafka = testKafka('bench-pipeline', 'admin');
  const admin = kafka.admin();
  await admin.connect();
  // A buggy peer holding user-service's credentials: within its permissions, not an outsider.
  const nats = await connect({ servers: TEST_NATS_URL, ...testNatsLogin('user-service') });
  const handledBefore = (await scrapeHandled(stack.txUrl)) ?? 0;
  let flooding = true;
  let maxRss = rssMb(stack.transactionServicePid());
  let minMembers = Number.POSITIVE_INFINITY;
  const groupStates = new Set<string>();
  const health: number[] = [];
  // Over time, for the report: [seconds since the flood started, MB] every 250 ms, [seconds, ms] per /healthz.
  const floodStarted = performance.now();
  const sinceFlood = () => Math.round((performance.now() - floodStarted) / 100) / 10;
  const rssTimeline: Array<[number, number]> = [];
  const healthTimeline: Array<[number, number]> = [];
  let healthFailures = 0;
  let died = false;
  const samplers = [
    (async () => {
      for (let n = 0; flooding; n += 1) {
        const pid = stack.transactionServicePid();
        if (pid === undefined) died = true;
        const rss = rssMb(pid);
        maxRss = Math.max(maxRss, rss);
        if (n % 5 === 0) rssTimeline.push([sinceFlood(), Math.round(rss)]);
        await sleep(50);
      }
    })(),
    (async () => {
      while (flooding) {
        try {
          const { groups } = await admin.describeGroups([stack.consumerGroup]);
          minMembers = Math.min(minMembers, groups[0]?.members.length ?? 0);
          groupStates.add(groups[0]?.state ?? 'unknown');
        } catch {
          groupStates.add('describe failed');
        }
        await sleep(500);
      }
    })(),
    (async () => {
      while (flooding) {
        const started = performance.now();
        try {
          const response = await requestJson<unknown>(`${stack.txUrl}/healthz`, { timeoutMs: 2_000 });
          if (response.status !== 200) healthFailures += 1;
        } catch {
          healthFailures += 1;
        }
        health.push(performance.now() - started);
        healthTimeline.push([sinceFlood(), Math.round(performance.now() - started)]);
        await sleep(200);
      }
    })(),
  ];
  const during = addMoneyLoop(stack.txUrl, userIds, clients, () => flooding);

  const started = performance.now();
  const payloads = userIds.map((id) => Buffer.from(JSON.stringify({ user_id: id })));
  for (let i = 0; i < config.floodMessages; i += 1) {
    // A reply subject nobody listens to: each message asks for a database read and an answer.
    nats.publish(stack.subject, payloads[i % payloads.length], { reply: `${natsInboxPrefix('user-service')}.bench-flood.${i}` });
    if (i % 5_000 === 4_999) await sleep(0);
  }
  await nats.flush();
  const publishMs = performance.now() - started;
  let handled = 0;
  const deadline = Date.now() + config.floodTimeoutMs;
  while (Date.now() < deadline && !died) {
    handled = ((await scrapeHandled(stack.txUrl)) ?? handledBefore) - handledBefore;
    if (handled >= config.floodMessages) break;
    await sleep(100);
  }
  const handledMs = performance.now() - started;
  await sleep(1_000);
  flooding = false;
  const money = await during;
  await Promise.all(samplers);
  await nats.close();
  await admin.disconnect();
  const result = {
    messages: config.floodMessages,
    publishMs: Math.round(publishMs),
    handled,
    handledMs: Math.round(handledMs),
    survived: !died && stack.transactionServicePid() !== undefined,
    exit: stack.transactionServicePid() === undefined ? stack.outputs()['transaction-service']?.slice(-300) : undefined,
    txHeapMb: config.txHeapMb,
    maxRssMb: Math.round(maxRss),
    minGroupMembers: minMembers,
    groupStates: [...groupStates],
    healthz: { ...stats(health), failures: healthFailures },
    addMoneyBefore: before,
    addMoneyDuring: money,
    rssTimeline,
    healthTimeline,
  };
  print([
    `flood: ${result.messages} messages published in ${result.publishMs} ms; ${handled} handled by transaction-service in ${result.handledMs} ms; survived: ${result.survived}`,
    `  add-money during the flood (${clients} clients): p50 ${money.latencyMs.p50} ms p99 ${money.latencyMs.p99} ms max ${money.latencyMs.max} ms ${JSON.stringify(money.statuses)}`,
    `  transaction-service RSS max ${result.maxRssMb} MB (heap limit ${config.txHeapMb} MB); group members min ${minMembers} (${result.groupStates.join(', ')}); ` +
      `/healthz p99 ${result.healthz.p99} ms max ${result.healthz.max} ms, ${healthFailures} failures`,
  ]);
  return result;
}

async function main(): Promise<void> {
  const runId = uniqueName('pipe').replace(/_/g, '-');
  const since = new Date(Date.now() - 1_000).toISOString();
  print([
    `make bench-pipeline: ${config.users} users / ${config.clients} clients, burst ${config.burst}, balance rates ${config.balanceRates} req/s x ${config.balanceSeconds} s,`,
    `  replay ${config.replayEvents} events, flood ${config.floodMessages} messages; code under ${config.root}`,
    `  machine: ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`,
  ]);
  const options = {
    logLevel: 'warn',
    relayMaxBackoffMs: 5_000,
    root: config.root,
    // Another checkout (a before) may predate the least-privilege logins and migrate with DATABASE_URL.
    serviceLogins: config.root === REPO_ROOT,
    partitions: 6,
    transactionNodeArgs: [`--max-old-space-size=${config.txHeapMb}`],
    name: 'benchpipe',
  };
  await withPrivateStack(options, async (stack) => {
    // Ready (consumer in its group) before anything is measured.
    const readyBy = Date.now() + 60_000;
    while ((await requestJson<unknown>(`${stack.txUrl}/readyz`).then((r) => r.status, () => 0)) !== 200) {
      if (Date.now() > readyBy) throw new Error('transaction-service did not become ready');
      await sleep(200);
    }
    const { users, result: usersResult } = await benchUsers(stack, runId);
    const balances = await benchBalances(stack, users);
    const replay = await benchReplay(stack, since);
    const fundable = users.slice(0, 200).map((u) => u.userId);
    await mapWithConcurrency(fundable, 20, async (id) => {
      await requestJson<unknown>(`${stack.txUrl}/users/${id}/balance`);
    });
    const flood = await benchFlood(stack, fundable);
    const result = { runId, at: new Date().toISOString(), commit: currentCommit(), root: config.root, loadavg: loadavg(), users: usersResult, balances, replay, flood };
    const resultFile = join(REPO_ROOT, '.run', 'bench-pipeline-result.json');
    writeJsonFile(resultFile, result);
    print(`result written to ${resultFile}, report to ${writeHtmlReport(resultFile, result)}`);
  });
}

runToExit('bench-pipeline', main);
