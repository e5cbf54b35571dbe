/**
 * Holds, model-based, while services die (issue 20, ADR 12): the model run of holds-model.test.ts
 * against two transaction-service child processes on one database, each killed with SIGKILL once
 * mid-run (a third and two thirds of the way) and started again on its port. Every request carries
 * an Idempotency-Key; a client whose connection fails (or who is answered 503) sends the same
 * request, with the same key, to the other process until it is answered. The books must still
 * equal the model built from the answers: an operation answered once is answered the same way
 * again, and happened exactly once; one never answered happened at most once.
 *
 * Sizes: HOLDS_CRASH_OPS operations (CI runs 1,200; 10,000 with HOLDS_CRASH_OPS=10000), 200 users,
 * 100 clients. About 35 s on a busy 2-core runner.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { sleep } from '@wallet/platform';
import {
  findFreePort,
  spawnNode,
  startTransactionServiceHarness,
  type SpawnedProcess,
  type TransactionServiceHarness,
  uniqueName,
  waitFor,
  waitForHttp,
} from '@wallet/platform/testkit';
import { addMoney, call, expectStatus, type Timed } from './support/hold-calls';
import { assertServiceMatchesModel, assertStoredMatchesModel, buildModel, lastShortExpiry, runModel, summary } from './support/holds-model';

const OPS = Number(process.env.HOLDS_CRASH_OPS ?? 1_200);
const USERS = 200;
const SEED = Number(process.env.HOLDS_SEED ?? Date.now() % 1_000_000);
const FUNDING = 20_000n;
const ENTRY = join(__dirname, '..', 'src', 'entry-points', 'main.js');

let h: TransactionServiceHarness;
const children: Array<{ port: number; process: SpawnedProcess }> = [];

before(async () => {
  process.stdout.write(`# HOLDS_SEED=${SEED} HOLDS_CRASH_OPS=${OPS}\n`);
  // The harness's own service only prepares the database and fixtures; the children take the load.
  h = await startTransactionServiceHarness({ DB_POOL_MAX: '4', AS_OF_DB_POOL_MAX: '1', HOLD_SWEEP_INTERVAL_MS: '0' });
  for (let i = 0; i < 2; i += 1) children.push({ port: await findFreePort(), process: undefined as unknown as SpawnedProcess });
  await Promise.all(children.map((_, i) => startChild(i)));
});
after(async () => {
  await Promise.all(children.map((c) => c.process.stop()));
  await h.stop();
});

async function startChild(index: number): Promise<void> {
  const child = children[index]!;
  child.process = spawnNode(ENTRY, {
    ...h.env,
    PORT: String(child.port),
    LOG_LEVEL: 'warn',
    DB_POOL_MAX: '10',
    AS_OF_DB_POOL_MAX: '2',
    HOLD_SWEEP_INTERVAL_MS: '200',
    KAFKA_CONSUMER_GROUP: uniqueName('test-tx-crash'),
  });
  await waitForHttp(`http://127.0.0.1:${child.port}/healthz`, 30_000, child.process);
}

const urlOf = (index: number) => `http://127.0.0.1:${children[index % children.length]!.port}`;

interface RetryStats {
  connectionErrors: number;
  unavailable: number;
}

/**
 * Sends until answered: a connection error or a 503 is retried with the same key on the other
 * process. The answer keeps the FIRST send's time (the operation may have been decided from then
 * on) and the LAST answer's time.
 */
function retryingSender(stats: RetryStats) {
  return async (client: number, copy: number, path: string, body: unknown, key: string | undefined): Promise<Timed> => {
    assert.ok(key !== undefined, 'a client that retries must send a key');
    const firstSentAt = Date.now();
    const deadline = firstSentAt + 60_000;
    for (let attempt = 0; ; attempt += 1) {
      const url = urlOf(client + copy + attempt);
      try {
        const answer = await call(url, path, body, key);
        if (answer.status !== 503) return { ...answer, sentAt: firstSentAt };
        stats.unavailable += 1;
      } catch (error) {
        stats.connectionErrors += 1;
        if (Date.now() > deadline) throw error;
      }
      await sleep(20 + Math.floor(Math.random() * 30));
    }
  };
}

test('two services killed with SIGKILL mid-run, clients retrying with their keys: the books equal the model', async () => {
  const users = await h.createUsers(USERS);
  for (let i = 0; i < users.length; i += 50) {
    await Promise.all(users.slice(i, i + 50).map(async (u) => expectStatus(await addMoney(urlOf(i), u, FUNDING), 200)));
  }
  const stats: RetryStats = { connectionErrors: 0, unavailable: 0 };
  const kills: Array<Promise<void>> = [];
  const killAt = new Map([
    [Math.floor(OPS / 3), 0],
    [Math.floor((2 * OPS) / 3), 1],
  ]);
  const started = Date.now();
  const run = await runModel({
    users,
    funding: FUNDING,
    operations: OPS,
    clients: 100,
    seed: SEED,
    keyedShare: 1,
    duplicateShare: 0.1,
    send: retryingSender(stats),
    onProgress: (done) => {
      const index = killAt.get(done);
      if (index === undefined) return;
      killAt.delete(done);
      // Killed while the other clients keep sending; started again in the background.
      kills.push(children[index]!.process.kill9().then(() => startChild(index)));
    },
  });
  await Promise.all(kills);
  const ran = Date.now() - started;
  assert.ok(stats.connectionErrors > 0, 'no request met a killed service: the kills came too late to matter');
  await sleep(Math.max(0, lastShortExpiry(run) + 300 - Date.now()));
  const expected = buildModel(run, Date.now());
  await waitFor(
    async () => {
      const { rows } = await h.db.raw<{ rows: Array<{ n: string }> }>("SELECT count(*)::text AS n FROM holds WHERE status = 'held' AND expires_at <= now()");
      return rows[0]!.n === '0' ? true : undefined;
    },
    { timeoutMs: 10_000, what: 'the restarted services to sweep every expired hold' },
  );
  for (const index of [0, 1]) await assertServiceMatchesModel(urlOf(index), run, expected);
  await assertStoredMatchesModel(h.db, run, expected);
  process.stdout.write(
    `# ${OPS} operations in ${ran} ms, ${stats.connectionErrors} connection errors and ${stats.unavailable} 503s retried: ${summary(run, expected)}\n`,
  );
});
