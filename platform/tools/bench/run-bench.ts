/**
 * `make bench`: load + books check against a running stack, through the public API only.
 *   1. creates BENCH_USERS users on user-service and waits until each reached transaction-service
 *      (outbox -> relay -> Kafka -> consumer),
 *   2. funds them with POST /add-money (Idempotency-Key),
 *   3. fires BENCH_TRANSFERS transfers from BENCH_CONCURRENCY clients (uniform pairs + a hot pair,
 *      duplicates sent 3x at once with one key, invalid requests mixed in, ambiguous outcomes
 *      retried with the same key),
 *   4. checks the books against an exact model, compares every balance read through user-service
 *      (NATS) with transaction-service's, and runs the reconciliation.
 * Prints a report, writes .run/bench-result.json, exits 1 when any invariant fails.
 */
import { cpus, totalmem } from 'node:os';
import { runCli } from '@wallet/platform';
import { checkBooks, requestJson, runTransferLoad, type BooksCheck, uniqueName } from '@wallet/platform/testkit';
import { loadBenchConfig, transferLoadOf, type BenchConfig } from './bench-config';
import { runBatchBench } from './run-bench-batch';
import { currentCommit, evaluateTargets, formatChecks, formatLoadSummary, formatTargets, print, summarizeLoad, writeJsonFile } from './bench-report';
import { writeHtmlReport } from './html-report';
import { startPrivateStack } from './private-stack';
import { startProgressLine } from './progress-line';
import { perSecond, readLockWaits, sampleMoneyBatches } from './timeline';
import { checkUserServiceBalances, createUsers, fundUsers, runReconciliation, waitForArrival } from './wallet-client';

async function assertUp(name: string, url: string): Promise<void> {
  try {
    const response = await requestJson<unknown>(`${url}/healthz`, { timeoutMs: 3_000 });
    if (response.status === 200) return;
    throw new Error(`answered ${response.status}`);
  } catch (error) {
    throw new Error(
      `${name} is not reachable at ${url} (${error instanceof Error ? error.message : String(error)}): start the stack first (make up)`,
    );
  }
}

interface BenchTarget {
  userUrl: string;
  txUrl: string;
  txOperatorUrl: string;
  txDatabaseUrl: string;
}

async function main(): Promise<number> {
  const config: BenchConfig = loadBenchConfig();
  // BENCH_MODE=batch: POST /batch and the client's automatic batching against single requests.
  const run = process.env.BENCH_MODE === 'batch' ? runBatchBench : runBench;
  if (!config.privateStack) {
    return run(config, {
      userUrl: config.userServiceUrl,
      txUrl: config.transactionServiceUrl,
      txOperatorUrl: config.transactionOperatorUrl,
      txDatabaseUrl: config.transactionDatabaseUrl,
    });
  }
  // Its own processes, ports, databases, topic and subject: nobody else's traffic or restarts
  // can land in the measurement (the default ports are shared by everyone on a dev machine).
  process.stderr.write('starting a private user-service, transaction-service and outbox-relay (BENCH_STACK=private)\n');
  const stack = await startPrivateStack({ logLevel: 'warn', relayMaxBackoffMs: 30_000 });
  try {
    return await run(config, {
      userUrl: stack.userUrl,
      txUrl: stack.txUrl,
      txOperatorUrl: stack.txOperatorUrl,
      txDatabaseUrl: stack.txDatabaseUrl,
    });
  } finally {
    await stack.stop();
  }
}

async function runBench(config: BenchConfig, target: BenchTarget): Promise<number> {
  const runId = uniqueName('bench');
  print([
    `make bench: ${config.users} users, ${config.transfers} transfers from ${config.concurrency} concurrent clients`,
    `  hot pair ${config.hotPairShare * 100}%, duplicates ${config.duplicateShare * 100}% (x3), invalid ${config.invalidShare * 100}%`,
    `  user-service ${target.userUrl}  transaction-service ${target.txUrl}  run ${runId}`,
  ]);
  await assertUp('user-service', target.userUrl);
  await assertUp('transaction-service', target.txUrl);

  const creating = startProgressLine('creating users', config.users);
  const users = await createUsers({
    userUrl: target.userUrl,
    count: config.users,
    emailPrefix: runId.replace(/_/g, '-'),
    onCreated: (n) => creating.update(n),
  });
  creating.finish();

  const arriving = startProgressLine('users arrived at transaction-service', config.users);
  const arrival = await waitForArrival({
    txUrl: target.txUrl,
    userIds: users.map((u) => u.userId),
    timeoutMs: config.arrivalTimeoutMs,
    onProgress: (n) => arriving.update(n),
  });
  arriving.finish();
  const arrivalCheck: BooksCheck = {
    name: 'every created user arrived at transaction-service',
    ok: arrival.missing.length === 0,
    detail: `${users.length - arrival.missing.length}/${users.length} in ${(arrival.elapsedMs / 1000).toFixed(1)} s`,
  };
  if (!arrivalCheck.ok) {
    print(formatChecks([arrivalCheck]));
    return 1;
  }

  const funding = await fundUsers({
    txUrl: target.txUrl,
    userIds: users.map((u) => u.userId),
    amountMinor: config.fundingMinor,
  });

  const progress = startProgressLine('transfers', config.transfers);
  // The load generator shares the machine with the system under test: say how much CPU it took.
  const clientCpuBefore = process.cpuUsage();
  // The engine's batches each second, for the report (its own /metrics, as Prometheus would see them).
  const batchSampler = sampleMoneyBatches(target.txUrl);
  const load = await runTransferLoad({
    ...transferLoadOf(config, target.txUrl, users.map((u) => u.userId)),
    onProgress: (done) => progress.update(done),
  });
  const timeline = perSecond(load, await batchSampler.stop());
  const lockWaits = await readLockWaits(target.txUrl);
  progress.finish();
  const clientCpu = process.cpuUsage(clientCpuBefore);
  const clientCpuPercent = Math.round((100 * (clientCpu.user + clientCpu.system)) / 1000 / load.elapsedMs);
  const summary = summarizeLoad(load, config.transfers);

  process.stderr.write('checking the books...\n');
  const checks: BooksCheck[] = [arrivalCheck];
  checks.push(...(await checkBooks({ txUrl: target.txUrl, funding, load })));
  checks.push(
    await checkUserServiceBalances({ userUrl: target.userUrl, txUrl: target.txUrl, users }),
  );
  const reconciliation = await runReconciliation(target.txOperatorUrl, target.txDatabaseUrl);
  checks.push(reconciliation.check);
  const targets = evaluateTargets(summary);
  const ok = checks.every((c) => c.ok);

  print(['', 'Result', ...formatLoadSummary(summary), `  load generator      ${clientCpuPercent}% of one core during the load phase`]);
  print(['', 'Invariants', ...formatChecks(checks), '', 'Targets']);
  print(formatTargets(targets));
  const result = {
    kind: 'bench' as const,
    run_id: runId,
    finished_at: new Date().toISOString(),
    commit: currentCommit(),
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? 'unknown', memory_gb: Math.round(totalmem() / 2 ** 30) },
    config: {
      stack: config.privateStack ? 'private' : 'running',
      user_service_url: target.userUrl,
      transaction_service_url: target.txUrl,
      users: config.users,
      transfers: config.transfers,
      concurrency: config.concurrency,
      hot_pair_share: config.hotPairShare,
      duplicate_share: config.duplicateShare,
      invalid_share: config.invalidShare,
      funding_minor: config.fundingMinor,
      max_amount_minor: config.maxAmountMinor,
    },
    summary,
    load_generator_cpu_percent: clientCpuPercent,
    invariants: checks,
    targets,
    ok,
    timeline,
    lock_waits: lockWaits,
  };
  writeJsonFile(config.resultFile, result);
  const html = writeHtmlReport(config.resultFile, result);
  print(['', ok ? 'all invariants hold' : 'INVARIANT VIOLATED', `result written to ${config.resultFile}, report to ${html}`]);
  return ok ? 0 : 1;
}

runCli('bench', main);
