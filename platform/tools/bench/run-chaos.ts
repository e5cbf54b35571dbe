/**
 * `make chaos`: fault drills during a bench-like run against a PRIVATE copy of the system (child
 * processes on their own ports, databases, topic and NATS subject), then the books check.
 *   - Kafka stopped while users are being created: they must all arrive afterwards, exactly once;
 *   - transaction-service killed with SIGKILL and restarted CHAOS_KILLS times during the transfers;
 *   - PostgreSQL restarted once during the transfers, then crashed twice: stopped with -m immediate
 *     (a power loss: open transactions and unflushed COMMITs lost) and one transaction_service
 *     backend SIGKILLed (the OOM killer: the postmaster resets every backend);
 *   - NATS stopped while balances are read through user-service: quick 503s, no hang, recovery.
 * Afterwards: every invariant of the books, every acknowledged operation exactly once, every user
 * exactly once, reconciliation clean, and the money events (read from the private stack's topic as
 * money-events-reader) exactly the ledger: one per entry, in order, gapless, valid. Exits 1 on any failure; drills this machine cannot run are
 * reported as skipped (never simulated). Writes CHAOS_RESULT_FILE (.run/chaos-result.json).
 */
import { sleep } from '@wallet/platform';
import { checkBooks, checkMoneyEvents, fetchBalance, formatCents, parseCents, requestJson, runTransferLoad, type BooksCheck, type TransferLoadResult, TEST_KAFKA_BROKERS, TEST_NATS_URL, TEST_POSTGRES_URL, uniqueName, waitForHttp } from '@wallet/platform/testkit';
import { formatChecks, formatLoadSummary, print, summarizeLoad, writeJsonFile } from './bench-report';
import { loadChaosConfig, type ChaosConfig, type ChaosResult, type DrillResult } from './chaos-config';
import { transferLoadOf } from './bench-config';
import { detectBackendKill, detectKafkaOutage, detectNatsOutage, detectPostgresCrash, detectPostgresRestart, killBackend, portOpen, restartPostgres, startKafka, startNats, startPostgres, stopKafka, stopNats, stopPostgresImmediately, watchUntilDown, type DrillAvailability, type InFlight } from './chaos-drills';
import { readArrivalFacts, readOutboxFacts } from './inspect-databases';
import { startPrivateStack, type PrivateStack } from './private-stack';
import { startProgressLine, type ProgressLine } from './progress-line';
import { checkUserServiceBalances, createUser, createUsers, fetchUserServiceBalance, fundUsers, mapWithConcurrency, runReconciliation, waitForArrival, type BenchUser } from './wallet-client';

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const note = (message: string) => process.stderr.write(`[chaos] ${message}\n`);

/** Infrastructure this run stopped and has not started again: restored on every way out. */
const toRestore = new Set<'kafka' | 'nats' | 'postgres'>();

async function restoreInfrastructure(): Promise<void> {
  if (toRestore.has('postgres')) {
    // Left down by a crash drill that broke off: everybody's tests share this cluster.
    note('starting PostgreSQL (left stopped by the crash drill)');
    await startPostgres(TEST_POSTGRES_URL).then(() => toRestore.delete('postgres'), (e: unknown) => note(`could not start PostgreSQL: ${String(e)}`));
  }
  if (toRestore.has('nats')) {
    note('restarting NATS (left stopped)');
    await startNats().then(() => toRestore.delete('nats'), (e: unknown) => note(`could not restart NATS: ${String(e)}`));
  }
  if (toRestore.has('kafka')) {
    note('restarting Kafka (left stopped)');
    await startKafka().then(() => toRestore.delete('kafka'), (e: unknown) => note(`could not restart Kafka: ${String(e)}`));
  }
}

// ---------------------------------------------------------------------------------------------
// Phase 1: users, with Kafka stopped while some of them are created.

async function createUsersThroughKafkaOutage(
  config: ChaosConfig,
  stack: PrivateStack,
  runId: string,
  drills: DrillResult[],
): Promise<BenchUser[]> {
  const prefix = runId.replace(/_/g, '-');
  const before = await createUsers({ userUrl: stack.userUrl, count: Math.ceil(config.users / 2), emailPrefix: `${prefix}-a` });
  const rest = config.users - before.length;
  const drill: DrillResult = { id: 'kafka-outage', name: `Kafka stopped for ${seconds(config.kafkaOutageMs)} while users are created`, status: 'skipped', detail: '' };
  drills.push(drill);
  const availability = detectKafkaOutage();
  if (config.kafkaOutageMs === 0 || !availability.available) {
    drill.detail = config.kafkaOutageMs === 0 ? 'disabled (CHAOS_KAFKA_OUTAGE_MS=0)' : availability.reason;
    note(`Kafka outage skipped: ${drill.detail}`);
    const after = await createUsers({ userUrl: stack.userUrl, count: rest, emailPrefix: `${prefix}-b` });
    return [...before, ...after];
  }

  const during: BenchUser[] = [];
  try {
    note('stopping Kafka (infra.sh kafka-down)');
    toRestore.add('kafka');
    await stopKafka();
    const downAt = performance.now();
    // Spread the creations over the outage: user-service must keep accepting users (Kafka is not
    // its dependency); their events wait in the outbox.
    for (let i = 0; i < rest; i += 1) {
      during.push(await createUser(stack.userUrl, `${prefix}-b-${i}@bench.example.com`));
      await sleep(config.kafkaOutageMs / (rest + 1));
    }
    await sleep(Math.max(0, config.kafkaOutageMs - (performance.now() - downAt)));
    const arrivedEarly = (await waitForArrival({ txUrl: stack.txUrl, userIds: during.map((u) => u.userId), timeoutMs: 1_000 }))
      .missing.length;
    note('starting Kafka (infra.sh kafka-up)');
    await startKafka();
    toRestore.delete('kafka');
    const downMs = performance.now() - downAt;
    const arrival = await waitForArrival({ txUrl: stack.txUrl, userIds: during.map((u) => u.userId), timeoutMs: config.recoveryTimeoutMs });
    const recoveredMs = performance.now() - downAt - downMs;
    const ok = arrival.missing.length === 0;
    drill.status = ok ? 'passed' : 'failed';
    drill.detail =
      `${during.length} users created (all 201) while Kafka was down for ${seconds(downMs)}; ` +
      `${during.length - arrivedEarly} of them visible before Kafka came back; ` +
      (ok ? `all arrived ${seconds(recoveredMs)} after Kafka was back` : `${arrival.missing.length} never arrived`);
  } catch (error) {
    drill.status = 'failed';
    drill.detail = `the drill broke off: ${error instanceof Error ? error.message : String(error)}`;
    throw error;
  }
  return [...before, ...during];
}

// ---------------------------------------------------------------------------------------------
// Phase 2: transfers, with transaction-service killed and PostgreSQL restarted and crashed under load.

interface ScheduledDrill {
  /** Fraction of the transfers done when it starts: set by planLoadDrills, spread evenly. */
  at: number;
  /** What it does; planLoadDrills makes result.name from it and the point in the load. */
  label: string;
  result: DrillResult;
  run: () => Promise<string>;
  /** Why it will not run here (disabled, or this machine cannot do it); empty when it runs. */
  skip: string;
}

/** A drill not yet placed in the load: planLoadDrills sets `at` and the result's name. */
function scheduledDrill(id: string, label: string, skip: string, run: () => Promise<string>): ScheduledDrill {
  return { at: 0, label, skip, result: { id, name: '', status: 'skipped', detail: '' }, run };
}

function killDrills(config: ChaosConfig, stack: PrivateStack, progress: ProgressLine): ScheduledDrill[] {
  const plan: ScheduledDrill[] = [];
  for (let k = 1; k <= config.kills; k += 1) {
    plan.push(
      scheduledDrill(`kill-transaction-service-${k}`, `kill -9 transaction-service #${k}`, '', async () => {
        progress.log(`[chaos] kill -9 transaction-service (#${k})`);
        const started = performance.now();
        await stack.killTransactionService();
        await sleep(config.killDownMs);
        await stack.startTransactionService();
        const downMs = performance.now() - started;
        progress.log(`[chaos] transaction-service is back after ${seconds(downMs)}`);
        return `down for ${seconds(downMs)} (SIGKILL, ${config.killDownMs} ms pause, restart until /healthz answered)`;
      }),
    );
  }
  return plan;
}

/** How long after PostgreSQL is back transaction-service says it is ready again (its pool reconnected). */
async function readyAfter(stack: PrivateStack, config: ChaosConfig): Promise<string> {
  const started = performance.now();
  await waitForHttp(`${stack.txUrl}/readyz`, config.recoveryTimeoutMs);
  return `transaction-service /readyz answered 200 ${seconds(performance.now() - started)} later`;
}

const describeInFlight = (seen: InFlight | undefined, when: string): string =>
  seen === undefined
    ? 'what was in flight could not be read'
    : `${when}: ${seen.backends} transaction_service backends, ${seen.active} in a statement (${seen.committing} in COMMIT), ${seen.idleInTransaction} idle in a transaction`;

/** The clean restart, then the two crashes: an immediate stop of the cluster and a SIGKILLed backend. */
async function postgresDrills(config: ChaosConfig, stack: PrivateStack, progress: ProgressLine): Promise<ScheduledDrill[]> {
  const database = new URL(stack.txDatabaseUrl).pathname.slice(1);
  // Skipped when its variable turned it off, or when this machine cannot do it.
  const drill = (id: string, label: string, enabled: boolean, variable: string, can: DrillAvailability, run: () => Promise<string>) =>
    scheduledDrill(id, label, !enabled ? `disabled (${variable}=0)` : can.available ? '' : can.reason, run);
  const restart = drill('restart-postgres', 'PostgreSQL restarted', config.restartPostgres, 'CHAOS_RESTART_POSTGRES', detectPostgresRestart(), async () => {
    progress.log('[chaos] restarting PostgreSQL');
    const restartMs = await restartPostgres();
    progress.log(`[chaos] PostgreSQL restarted in ${seconds(restartMs)}`);
    return `restart took ${seconds(restartMs)}; ${await readyAfter(stack, config)}`;
  });
  const crashLabel = 'PostgreSQL crashed (stop -m immediate, then start)';
  const crash = drill('crash-postgres', crashLabel, config.crashPostgres, 'CHAOS_CRASH_POSTGRES', detectPostgresCrash(), async () => {
    progress.log('[chaos] PostgreSQL stop -m immediate (a crash: no checkpoint, open transactions lost)');
    const watching = watchUntilDown(TEST_POSTGRES_URL, database, 'transaction_service', 30_000);
    const stoppedAt = performance.now();
    toRestore.add('postgres');
    let stopMs = 0;
    try {
      stopMs = await stopPostgresImmediately();
    } finally {
      // Started again at once even if the stop failed half-way: the cluster is shared.
      await startPostgres(TEST_POSTGRES_URL);
      toRestore.delete('postgres');
    }
    const startMs = performance.now() - stoppedAt - stopMs;
    progress.log(`[chaos] PostgreSQL is back after crash recovery (${seconds(stopMs + startMs)})`);
    const seen = await watching;
    return `${describeInFlight(seen, 'at the crash')}; stop took ${seconds(stopMs)}, start with crash recovery ${seconds(startMs)}; ${await readyAfter(stack, config)}`;
  });
  const backendLabel = 'kill -9 of a transaction_service backend (the OOM killer)';
  const canKill = config.killPostgresBackend ? await detectBackendKill(TEST_POSTGRES_URL) : { available: true, reason: '' };
  const backendKill = drill('kill-postgres-backend', backendLabel, config.killPostgresBackend, 'CHAOS_KILL_POSTGRES_BACKEND', canKill, async () => {
    progress.log('[chaos] kill -9 one transaction_service backend of the private database');
    const killed = await killBackend(TEST_POSTGRES_URL, database, 'transaction_service', config.backendKillAimMs);
    if (!killed.resetSeen) throw new Error(`backend ${killed.pid} was killed, but the postmaster was not seen resetting the other backends`);
    progress.log(`[chaos] PostgreSQL answered again ${seconds(killed.recoveredMs)} after the backend kill`);
    return (
      `killed backend ${killed.pid} while it was ${killed.state} (${JSON.stringify(killed.query)}); ${describeInFlight(killed.inFlight, 'at the kill')}; ` +
      `the postmaster reset every backend; queries answered again ${seconds(killed.recoveredMs)} after the kill; ${await readyAfter(stack, config)}`
    );
  });
  // The crash last: its outage is the longest, and the drills after a PostgreSQL outage need load left.
  return [restart, backendKill, crash];
}

async function planLoadDrills(config: ChaosConfig, stack: PrivateStack, progress: ProgressLine): Promise<ScheduledDrill[]> {
  const plan = [...killDrills(config, stack, progress), ...(await postgresDrills(config, stack, progress))];
  // Spread evenly over 5-60% of the transfers: once a fault is repaired the clients catch up in a
  // burst (after a PostgreSQL drill, while the drill waits for /readyz), so a drill planned late
  // would find the transfers already finished; the last 40 % are load left for the last drill.
  const runnable = plan.filter((step) => !step.skip);
  runnable.forEach((step, i) => {
    step.at = runnable.length === 1 ? 0.3 : 0.05 + (0.55 * i) / (runnable.length - 1);
    step.result.name = `${step.label} at ${Math.round(step.at * 100)}% of the transfers`;
  });
  for (const step of plan.filter((s) => s.skip)) {
    step.result.name = step.label;
    step.result.detail = step.skip;
    note(`${step.result.id} skipped: ${step.skip}`);
  }
  return plan;
}

/** Runs each drill once the transfers reach its point; a drill whose point never comes fails. */
async function runDrillsAlong(plan: readonly ScheduledDrill[], transfers: number, progress: () => { done: number; finished: boolean }): Promise<void> {
  for (const step of plan) {
    while (!progress().finished && progress().done < step.at * transfers) await sleep(10);
    if (progress().finished) {
      step.result.status = 'failed';
      step.result.detail = 'the transfers finished before this drill could run (raise CHAOS_TRANSFERS)';
      continue;
    }
    try {
      step.result.detail = await step.run();
      step.result.status = 'passed';
    } catch (error) {
      step.result.status = 'failed';
      step.result.detail = error instanceof Error ? error.message : String(error);
    }
  }
}

/** Set when the transfers were given up on (a hang): their requests are still pending, so main exits. */
let loadAbandoned = false;

async function runTransfersUnderFire(
  config: ChaosConfig,
  stack: PrivateStack,
  users: readonly BenchUser[],
  drills: DrillResult[],
): Promise<TransferLoadResult> {
  const progress = startProgressLine('transfers under fire', config.transfers);
  const plan = await planLoadDrills(config, stack, progress);
  drills.push(...plan.map((step) => step.result));

  let done = 0;
  let finished = false;
  const scheduler = runDrillsAlong(plan.filter((s) => !s.skip), config.transfers, () => ({ done, finished }));
  const load = runTransferLoad({
    ...transferLoadOf(config, stack.txUrl, users.map((u) => u.userId)),
    // While transaction-service is dead a request gets no answer at all; re-sending is the client's job.
    retryUnansweredInvalid: true,
    onProgress: (n) => {
      done = n;
      progress.update(n);
    },
  });
  // Every request is retried until it is definitive, so a server that never settles one would keep
  // the run going for hours: past CHAOS_LOAD_TIMEOUT_MS it is reported as a hang.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), config.loadTimeoutMs);
  });
  const outcome = await Promise.race([load, deadline]);
  clearTimeout(timer);
  finished = true;
  progress.finish();
  await scheduler;
  if (!outcome) {
    loadAbandoned = true;
    throw new Error(`hang: ${done} of ${config.transfers} transfers had a definitive answer ${seconds(config.loadTimeoutMs)} into the load (CHAOS_LOAD_TIMEOUT_MS)`);
  }
  // A drill counts as passed only if the system then served every request to a definitive answer.
  return outcome;
}

/** Re-sends acknowledged transfers with their keys: each must replay the stored outcome. */
async function checkReplays(txUrl: string, load: TransferLoadResult, sample: number): Promise<BooksCheck> {
  const entries = [...load.acknowledged.entries()].slice(0, sample);
  const problems: string[] = [];
  await mapWithConcurrency(entries, 10, async ([key, transfer]) => {
    const response = await requestJson<{ transfer_id?: string }>(`${txUrl}/transfer`, {
      body: { from_user_id: transfer.from, to_user_id: transfer.to, amount_to_transfer: formatCents(transfer.amountMinor) },
      headers: { 'Idempotency-Key': key },
      timeoutMs: 10_000,
    });
    const body = response.body;
    if (response.status !== 201 || response.headers.get('idempotent-replayed') !== 'true' || body.transfer_id !== transfer.transferId) {
      problems.push(`${key}: ${response.status} replayed=${response.headers.get('idempotent-replayed')} id=${body.transfer_id}`);
    }
  });
  return {
    name: 'acknowledged transfers replay their stored outcome (same key -> same transfer, nothing moves)',
    ok: problems.length === 0,
    detail: problems.length === 0 ? `${entries.length} keys re-sent` : `${problems.length} wrong: ${problems.slice(0, 3).join('; ')}`,
  };
}

// ---------------------------------------------------------------------------------------------
// Phase 3: balances through user-service while NATS is stopped.

async function readBalancesThroughNatsOutage(
  config: ChaosConfig,
  stack: PrivateStack,
  users: readonly BenchUser[],
  drills: DrillResult[],
): Promise<void> {
  const drill: DrillResult = { id: 'nats-outage', name: `NATS stopped for ${seconds(config.natsOutageMs)} while balances are read through user-service`, status: 'skipped', detail: '' };
  drills.push(drill);
  const availability = await detectNatsOutage();
  if (config.natsOutageMs === 0 || !availability.available) {
    drill.detail = config.natsOutageMs === 0 ? 'disabled (CHAOS_NATS_OUTAGE_MS=0)' : availability.reason;
    note(`NATS outage skipped: ${drill.detail}`);
    return;
  }
  const sample = users.slice(0, Math.min(5, users.length));
  const expected = new Map<string, bigint>();
  for (const u of sample) expected.set(u.email, await fetchBalance(stack.txUrl, u.userId));

  type Answer = Awaited<ReturnType<typeof fetchUserServiceBalance>> & { email: string };
  const classify = (answers: Answer[]) => ({
    hung: answers.filter((a) => a.hung),
    unavailable: answers.filter((a) => a.status === 503 || a.status === 504),
    slow: answers.filter((a) => !a.hung && a.ms > config.balanceFastFailMs),
    correct: answers.filter((a) => a.status === 200 && a.balance !== undefined && parseCents(a.balance) === expected.get(a.email)),
    wrong: answers.filter((a) => a.status === 200 && (a.balance === undefined || parseCents(a.balance) !== expected.get(a.email))),
    other: answers.filter((a) => !a.hung && a.status !== 200 && a.status !== 503 && a.status !== 504),
  });
  const ask = async (u: BenchUser): Promise<Answer> => ({
    ...(await fetchUserServiceBalance(stack.userUrl, u.email, config.balanceClientTimeoutMs)),
    email: u.email,
  });

  const beforeOutage = classify(await Promise.all(sample.map(ask)));
  if (beforeOutage.correct.length !== sample.length) {
    drill.status = 'failed';
    drill.detail = `balances were not served correctly even before NATS was stopped (${beforeOutage.correct.length}/${sample.length})`;
    return;
  }

  const during: Answer[] = [];
  const after: Answer[] = [];
  let recoveredMs: number | undefined;
  try {
    note('stopping NATS (start-stop-daemon --stop)');
    toRestore.add('nats');
    await stopNats();
    const downAt = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, async (_, worker) => {
        for (let i = worker; performance.now() - downAt < config.natsOutageMs; i += 4) {
          during.push(await ask(sample[i % sample.length]!));
          await sleep(50);
        }
      }),
    );
    note('starting NATS again');
    await startNats();
    toRestore.delete('nats');
    const upAt = performance.now();

    while (performance.now() - upAt < config.recoveryTimeoutMs) {
      const round = await Promise.all(sample.map(ask));
      after.push(...round);
      if (classify(round).correct.length === sample.length) {
        recoveredMs = performance.now() - upAt;
        break;
      }
      await sleep(100);
    }
  } catch (error) {
    drill.status = 'failed';
    drill.detail = `the drill broke off: ${error instanceof Error ? error.message : String(error)}`;
    throw error;
  }

  const outage = classify(during);
  const recovery = classify(after);
  const problems: string[] = [];
  if (outage.hung.length + recovery.hung.length > 0) problems.push(`${outage.hung.length + recovery.hung.length} requests hung past ${config.balanceClientTimeoutMs} ms`);
  if (outage.slow.length > 0) problems.push(`${outage.slow.length} answers slower than ${config.balanceFastFailMs} ms during the outage (max ${Math.round(Math.max(...outage.slow.map((a) => a.ms)))} ms)`);
  if (outage.wrong.length + recovery.wrong.length > 0) problems.push(`${outage.wrong.length + recovery.wrong.length} wrong balances`);
  if (outage.other.length + recovery.other.length > 0) {
    problems.push(`unexpected statuses ${[...outage.other, ...recovery.other].map((a) => a.status).join(',')}`);
  }
  if (outage.unavailable.length === 0) problems.push('no 503/504 was seen while NATS was down');
  if (recoveredMs === undefined) problems.push(`balances did not recover within ${config.recoveryTimeoutMs} ms`);
  const fastest = Math.round(Math.min(...outage.unavailable.map((a) => a.ms), Number.POSITIVE_INFINITY));
  const slowest = Math.round(Math.max(...outage.unavailable.map((a) => a.ms), 0));
  const statuses = new Map<number, number>();
  for (const a of during) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
  drill.status = problems.length === 0 ? 'passed' : 'failed';
  drill.detail =
    `${during.length} requests while NATS was down: ${[...statuses].map(([s, n]) => `${s}x${n}`).join(' ')}` +
    (outage.unavailable.length > 0 ? ` (503/504 in ${fastest}-${slowest} ms)` : '') +
    `; ${recoveredMs === undefined ? 'no recovery' : `recovered ${seconds(recoveredMs)} after NATS was back`}` +
    (problems.length > 0 ? `; PROBLEMS: ${problems.join('; ')}` : '');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const config = loadChaosConfig();
  const started = performance.now();
  const runId = uniqueName('chaos');
  const drills: DrillResult[] = [];
  const checks: BooksCheck[] = [];
  const onOff = (flag: boolean): string => (flag ? 'on' : 'off');
  print([
    `make chaos: ${config.users} users, ${config.transfers} transfers from ${config.concurrency} clients, run ${runId}`,
    `  drills: ${config.kills} x kill -9 transaction-service, PostgreSQL restart ${onOff(config.restartPostgres)}, ` +
      `PostgreSQL crash (stop -m immediate) ${onOff(config.crashPostgres)}, kill -9 of a PostgreSQL backend ${onOff(config.killPostgresBackend)}, ` +
      `Kafka outage ${config.kafkaOutageMs ? seconds(config.kafkaOutageMs) : 'off'}, NATS outage ${config.natsOutageMs ? seconds(config.natsOutageMs) : 'off'}`,
  ]);
  // The servers the private stack will use (the project's own authenticated brokers by default).
  const portOf = (address: string): number => Number(new URL(address.includes('://') ? address : `tcp://${address}`).port);
  const servers = [
    ['PostgreSQL', portOf(TEST_POSTGRES_URL) || 5432],
    ['NATS', portOf(TEST_NATS_URL.split(',')[0] ?? '')],
    ['Kafka', portOf(TEST_KAFKA_BROKERS.split(',')[0] ?? '')],
  ] as const;
  for (const [name, port] of servers) {
    if (!(await portOpen(port))) throw new Error(`${name} is not reachable on 127.0.0.1:${port}: run make infra first`);
  }

  note('starting a private user-service, transaction-service and outbox-relay');
  const stack = await startPrivateStack({ logLevel: config.logLevel, relayMaxBackoffMs: config.relayMaxBackoffMs });
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) return;
    interrupted = true;
    note('interrupted: restoring the infrastructure and stopping the private stack');
    void restoreInfrastructure()
      .then(() => stack.stop())
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let load: TransferLoadResult | undefined;
  try {
    const users = await createUsersThroughKafkaOutage(config, stack, runId, drills);
    const arrival = await waitForArrival({ txUrl: stack.txUrl, userIds: users.map((u) => u.userId), timeoutMs: config.recoveryTimeoutMs });
    if (arrival.missing.length > 0) throw new Error(`${arrival.missing.length} users never reached transaction-service`);

    const funding = await fundUsers({ txUrl: stack.txUrl, userIds: users.map((u) => u.userId), amountMinor: config.fundingMinor });
    load = await runTransfersUnderFire(config, stack, users, drills);

    // The relay's LISTEN connection, its pool and the consumer must all have survived the drills:
    // users created now take the whole path again. (Their arrival is awaited after the other
    // checks: a consumer that was SIGKILLed leaves a ghost member in the Kafka group, and the
    // group cannot rebalance until that member's session times out.)
    const late = await createUsers({ userUrl: stack.userUrl, count: 2, emailPrefix: `${runId.replace(/_/g, '-')}-late` });
    const lateCreatedAt = performance.now();

    note('checking the books');
    checks.push(...(await checkBooks({ txUrl: stack.txUrl, funding, load })));
    checks.push(await checkReplays(stack.txUrl, load, 200));

    await readBalancesThroughNatsOutage(config, stack, users, drills);

    const lateArrival = await waitForArrival({ txUrl: stack.txUrl, userIds: late.map((u) => u.userId), timeoutMs: config.recoveryTimeoutMs });
    checks.push({
      name: 'users created after the drills still arrive (relay, Kafka, consumer recovered)',
      ok: lateArrival.missing.length === 0,
      detail: `${late.length - lateArrival.missing.length}/${late.length} arrived; looked for after the NATS drill, ${seconds(performance.now() - lateCreatedAt)} after they were created`,
    });
    users.push(...late);
    checks.push(await checkUserServiceBalances({ userUrl: stack.userUrl, txUrl: stack.txUrl, users }));

    const facts = await readArrivalFacts(stack.txDatabaseUrl, users.map((u) => u.userId));
    const outbox = await readOutboxFacts(stack.userDatabaseUrl);
    checks.push({
      name: 'every created user arrived exactly once (users, processed_events, no dead letters, outbox drained)',
      ok:
        facts.transactionUsers === users.length &&
        facts.createdFound === users.length &&
        facts.processedUserCreated === users.length &&
        facts.deadLetters === 0 &&
        outbox.events === users.length &&
        outbox.unpublished === 0,
      detail:
        `${users.length} created; transaction-service has ${facts.transactionUsers} users (${facts.createdFound} of ours), ` +
        `${facts.processedUserCreated} processed user-created events, ${facts.deadLetters} dead letters; ` +
        `outbox ${outbox.events} events, ${outbox.unpublished} unpublished`,
    });
    checks.push((await runReconciliation(stack.txOperatorUrl, stack.txDatabaseUrl)).check);

    // Last: the relay must have published every committed change exactly as the ledger holds it,
    // through every drill (a crash between its produce and its COMMIT may only repeat events).
    note('checking the money events (as money-events-reader, from the beginning of the topic)');
    const events = await checkMoneyEvents({ topic: stack.moneyEventsTopic, txUrl: stack.txUrl, userIds: users.map((u) => u.userId), timeoutMs: config.recoveryTimeoutMs });
    checks.push({ name: events.name, ok: events.ok, detail: events.detail });
  } catch (error) {
    checks.push({ name: 'the run completed', ok: false, detail: error instanceof Error ? error.message : String(error) });
  } finally {
    await restoreInfrastructure();
  }

  const failedDrills = drills.filter((d) => d.status === 'failed');
  const ok = failedDrills.length === 0 && checks.every((c) => c.ok) && checks.length > 0;
  print(['', 'Drills', ...drills.map((d) => `  ${d.status.toUpperCase().padEnd(7)} ${d.name}: ${d.detail}`)]);
  if (load) print(['', 'Load', ...formatLoadSummary(summarizeLoad(load, config.transfers))]);
  print(['', 'Invariants', ...formatChecks(checks), '', ok ? 'chaos: everything held' : 'chaos: FAILED']);
  if (!ok) {
    for (const [name, output] of Object.entries(stack.outputs())) {
      process.stderr.write(`\n--- last output of ${name} ---\n${output}\n`);
    }
  }
  const result: ChaosResult = { ok, drills, invariants: checks, durationSeconds: Math.round((performance.now() - started) / 1000) };
  writeJsonFile(config.resultFile, { ...result, run_id: runId, load: load ? summarizeLoad(load, config.transfers) : null });
  print(`finished in ${result.durationSeconds} s; result written to ${config.resultFile}`);
  await stack.stop();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return ok ? 0 : 1;
}

main().then(
  (code) => {
    // Abandoned transfers still have requests and retry timers pending: they must not keep the run alive.
    if (loadAbandoned) process.exit(code);
    process.exitCode = code;
  },
  async (error: unknown) => {
    process.stderr.write(`chaos failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await restoreInfrastructure();
    process.exitCode = 2;
  },
);
