/**
 * `make bench-holds`: holds (ADR 12) on a private stack, measured, never asserted.
 *   1. Hold-then-capture pairs/s against plain transfers/s: the same HOLDS_BENCH_CLIENTS clients,
 *      each sending one operation at a time for HOLDS_BENCH_SECONDS, between random funded users;
 *      the two phases alternate for HOLDS_BENCH_ROUNDS rounds and the ratio of medians is reported.
 *      A pair is POST /holds then POST /holds/{id}/capture of the whole hold (two requests, two
 *      batch items): the target is pairs/s >= 0.7 x transfers/s.
 *   2. Expiry release lag: HOLDS_BENCH_EXPIRING holds are placed so that every one expires within the
 *      same second (each hold's expires_in_seconds is chosen from the time it is placed), then the
 *      sweeper releases them. Lag = the release entry's created_at (taken under the sender's lock,
 *      just before its batch's write and COMMIT) - the hold's expires_at, read from the database.
 *   3. Reconciliation (holds included) must come back clean.
 * Writes .run/bench-holds-result.json.
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import Joi from 'joi';
import { WalletApiError, WalletClient } from '@wallet/client';
import pg from 'pg';
import { defineConfig, sleep } from '@wallet/platform';
import { percentile, REPO_ROOT } from '@wallet/platform/testkit';
import { currentCommit, print, writeJsonFile } from './bench-report';
import { startPrivateStack } from './private-stack';
import { createUsers, fundUsers, mapWithConcurrency, runReconciliation, waitForArrival } from './wallet-client';

const config = defineConfig({
  users: { env: 'HOLDS_BENCH_USERS', schema: Joi.number().integer().min(2).default(200) },
  clients: { env: 'HOLDS_BENCH_CLIENTS', schema: Joi.number().integer().min(1).default(100) },
  seconds: { env: 'HOLDS_BENCH_SECONDS', schema: Joi.number().integer().min(1).default(10) },
  rounds: { env: 'HOLDS_BENCH_ROUNDS', schema: Joi.number().integer().min(1).default(3) },
  expiring: { env: 'HOLDS_BENCH_EXPIRING', schema: Joi.number().integer().min(0).default(10_000) },
  resultFile: { env: 'HOLDS_BENCH_RESULT_FILE', schema: Joi.string().default(join(REPO_ROOT, '.run', 'bench-holds-result.json')) },
}).load(process.env);

const note = (message: string) => process.stderr.write(`[bench-holds] ${message}\n`);
const round1 = (n: number) => Math.round(n * 10) / 10;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;

interface PhaseResult {
  operations: number;
  perSecond: number;
  refused: number;
  p50Ms: number;
  p99Ms: number;
}

/** `clients` loops, each doing `one()` back to back until the time is up; counts successes. */
async function runPhase(clients: number, seconds: number, one: () => Promise<boolean>): Promise<PhaseResult> {
  const deadline = performance.now() + seconds * 1_000;
  const latencies: number[] = [];
  let operations = 0;
  let refused = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        const ok = await one();
        latencies.push(performance.now() - t0);
        if (ok) operations += 1;
        else refused += 1;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1_000;
  latencies.sort((a, b) => a - b);
  return { operations, perSecond: round1(operations / elapsed), refused, p50Ms: round1(percentile(latencies, 50)), p99Ms: round1(percentile(latencies, 99)) };
}

function randomPair(users: readonly string[]): [string, string] {
  const a = Math.floor(Math.random() * users.length);
  const b = (a + 1 + Math.floor(Math.random() * (users.length - 1))) % users.length;
  return [users[a]!, users[b]!];
}

/** A refusal (a WalletApiError) is a counted outcome; anything else is the bench's failure. */
async function succeeded(call: () => Promise<unknown>): Promise<boolean> {
  return call().then(
    () => true,
    (error: unknown) => {
      if (error instanceof WalletApiError) return false;
      throw error;
    },
  );
}

/** Through @wallet/client, as a product team would call it: every call keyed, retried with its key. */
function transferOnce(client: WalletClient, users: readonly string[]): Promise<boolean> {
  const [from, to] = randomPair(users);
  return succeeded(() => client.transfer({ from_user_id: from, to_user_id: to, amount_to_transfer: '0.01' }));
}

function holdAndCaptureOnce(client: WalletClient, users: readonly string[]): Promise<boolean> {
  const [from, to] = randomPair(users);
  return succeeded(async () => {
    const held = await client.hold({ from_user_id: from, to_user_id: to, amount: '0.01' });
    await client.capture(held.hold_id);
  });
}

/** Alternating rounds of the two phases with the same clients. */
async function compareThroughput(client: WalletClient, users: readonly string[]) {
  const rounds: Array<{ transfers: PhaseResult; pairs: PhaseResult; ratio: number }> = [];
  for (let r = 1; r <= config.rounds; r += 1) {
    const transfers = await runPhase(config.clients, config.seconds, () => transferOnce(client, users));
    const pairs = await runPhase(config.clients, config.seconds, () => holdAndCaptureOnce(client, users));
    const ratio = Math.round((pairs.perSecond / transfers.perSecond) * 100) / 100;
    note(`round ${r}: transfers ${transfers.perSecond}/s (p99 ${transfers.p99Ms} ms), pairs ${pairs.perSecond}/s (p99 ${pairs.p99Ms} ms): ${ratio}x`);
    rounds.push({ transfers, pairs, ratio });
  }
  return { rounds, medianRatio: median(rounds.map((r) => r.ratio)) };
}

/** Places `count` holds that all expire within one second, then measures how long their releases took. */
async function measureExpiryLag(client: WalletClient, users: readonly string[], db: pg.Client) {
  // Placing runs at a few thousand per second: aim the common second far enough ahead to place them all.
  const target = Math.ceil(Date.now() / 1_000) * 1_000 + Math.ceil(config.expiring / 1_000) * 1_000 + 5_000;
  const ids: string[] = [];
  await mapWithConcurrency(
    Array.from({ length: config.expiring }, (_, i) => i),
    100,
    async (i) => {
      const from = users[i % users.length]!;
      const to = users[(i + 1) % users.length]!;
      const seconds = Math.max(1, Math.ceil((target - Date.now()) / 1_000));
      const held = await client.hold({ from_user_id: from, to_user_id: to, amount: '0.01', expires_in_seconds: seconds });
      ids.push(held.hold_id);
    },
  );
  note(`${ids.length} holds placed; they expire between ${new Date(target).toISOString()} and a second later`);
  await waitForReleases(db, ids, 60_000);
  const { rows } = await db.query<{ lag_ms: string; expires_at: Date }>(
    `SELECT extract(epoch FROM (t.created_at - h.expires_at)) * 1000 AS lag_ms, h.expires_at
       FROM holds h JOIN transactions t ON t.hold_id = h.hold_id AND t.type = 'release'
      WHERE h.hold_id = ANY($1::uuid[])`,
    [ids],
  );
  const lags = rows.map((r) => Number(r.lag_ms)).sort((a, b) => a - b);
  const expiries = rows.map((r) => r.expires_at.getTime());
  return {
    holds: ids.length,
    released: rows.length,
    expirySpreadMs: expiries.length ? Math.max(...expiries) - Math.min(...expiries) : 0,
    lagP50Ms: round1(percentile(lags, 50)),
    lagP99Ms: round1(percentile(lags, 99)),
    lagMaxMs: round1(lags[lags.length - 1] ?? 0),
  };
}

async function waitForReleases(db: pg.Client, ids: readonly string[], timeoutMs: number): Promise<void> {
  const started = Date.now();
  for (let i = 0; Date.now() - started < timeoutMs; i += 1) {
    const { rows } = await db.query<{ held: string }>("SELECT count(*) AS held FROM holds WHERE hold_id = ANY($1::uuid[]) AND status = 'held'", [ids]);
    if (Number(rows[0]!.held) === 0) return;
    if (i % 20 === 0) note(`${rows[0]!.held} holds still held`);
    await sleep(250);
  }
  note('not every hold was released in time');
}

async function main(): Promise<void> {
  note(`machine: ${cpus().length} vCPUs, load ${loadavg().map(round1).join(' ')}`);
  const stack = await startPrivateStack({ logLevel: 'warn', relayMaxBackoffMs: 1_000, name: 'holds' });
  const db = new pg.Client({ connectionString: stack.txDatabaseUrl });
  const client = new WalletClient({ userServiceUrl: stack.userUrl, transactionServiceUrl: stack.txUrl });
  try {
    await db.connect();
    const created = await createUsers({ userUrl: stack.userUrl, count: config.users, emailPrefix: `holds-${Date.now()}` });
    const users = created.map((u) => u.userId);
    const arrival = await waitForArrival({ txUrl: stack.txUrl, userIds: users, timeoutMs: 120_000 });
    if (arrival.missing.length > 0) throw new Error(`${arrival.missing.length} users never arrived`);
    await fundUsers({ txUrl: stack.txUrl, userIds: users, amountMinor: 100_000_000n });
    const throughput = await compareThroughput(client, users);
    const expiry = config.expiring > 0 ? await measureExpiryLag(client, users, db) : undefined;
    const books = await runReconciliation(stack.txOperatorUrl, stack.txDatabaseUrl);
    const result = { commit: currentCommit(), at: new Date().toISOString(), config, throughput, expiry, books: books.check };
    writeJsonFile(config.resultFile, result);
    print(JSON.stringify({ medianRatio: throughput.medianRatio, expiry, books: books.check }, null, 2));
  } finally {
    client.close();
    await db.end().catch(() => undefined);
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`[bench-holds] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
