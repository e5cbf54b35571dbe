import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { checkBooks, findFreePort, requestJson, runTransferLoad, type SpawnedProcess, spawnNode, startTransactionServiceHarness, type TransactionServiceHarness, type TransferLoadOptions, type TransferLoadResult, waitForHttp } from '@wallet/platform/testkit';

/**
 * The acceptance scenario: thousands of concurrent transfers with duplicated retries, then an
 * exact books check. Real HTTP, real PostgreSQL, real concurrency.
 */
let h: TransactionServiceHarness;
before(async () => {
  h = await startTransactionServiceHarness({ DB_POOL_MAX: '30' });
});
after(async () => {
  await h.stop();
});

async function fundAll(userIds: string[], amount: string): Promise<Map<string, bigint>> {
  await Promise.all(userIds.map((u) => h.fund(u, amount)));
  const cents = BigInt(amount.replace('.', ''));
  return new Map(userIds.map((u) => [u, cents]));
}

/**
 * Funds every user, runs the load (against one process or several), then asserts that no request
 * failed with a 5xx and that the books are exact. Returns the load for the test's own assertions.
 */
async function loadWithExactBooks(
  users: string[],
  fundEach: string,
  shape: Omit<TransferLoadOptions, 'txUrl' | 'userIds'>,
  txUrl: string | string[] = h.url,
): Promise<TransferLoadResult> {
  const funding = await fundAll(users, fundEach);
  const load = await runTransferLoad({ ...shape, txUrl, userIds: users });
  assert.equal([...load.statusCounts.keys()].filter((s) => s >= 500).length, 0, JSON.stringify([...load.statusCounts]));
  const checks = await checkBooks({ txUrl: Array.isArray(txUrl) ? txUrl[0]! : txUrl, funding, load });
  const failed = checks.filter((c) => !c.ok);
  assert.deepEqual(failed, [], failed.map((c) => `${c.name}: ${c.detail}`).join('\n'));
  return load;
}

/** The acceptance mix: 2,000 transfers from 100 clients, a fifth on one hot pair, a tenth sent three times at once. */
const MIXED_LOAD = { transfers: 2_000, concurrency: 100, hotPairShare: 0.2, duplicateShare: 0.1, maxAmountMinor: 5_000n };

describe('concurrent transfers', () => {
  test('2,000 transfers from 100 clients among 20 users plus a hot pair, 10% sent 3x at once: books exact', async () => {
    const load = await loadWithExactBooks(await h.createUsers(20), '200.00', MIXED_LOAD);
    // The run must actually exercise both outcomes, or the test proves less than it claims.
    assert.ok(load.acknowledged.size > 1_000, `only ${load.acknowledged.size} transfers acknowledged`);
    assert.ok(load.rejectedInsufficient > 0, 'no transfer was refused for insufficient funds');
  });

  test('1,000 transfers fired all at once (1,000 connections) keep the books exact', async () => {
    await loadWithExactBooks(await h.createUsers(10), '100.00', {
      transfers: 1_000,
      concurrency: 1_000,
      hotPairShare: 0.1,
      duplicateShare: 0.1,
      maxAmountMinor: 3_000n,
    });
  });

  test('A->B / B->A storms never surface a deadlock or any 5xx', async () => {
    const [a, b] = (await h.createUsers(2)) as [string, string];
    await h.fund(a, '100.00');
    await h.fund(b, '100.00');
    const responses = await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        requestJson(`${h.url}/transfer`, {
          body: i % 2 === 0
            ? { from_user_id: a, to_user_id: b, amount_to_transfer: '1.00' }
            : { from_user_id: b, to_user_id: a, amount_to_transfer: '1.00' },
        }),
      ),
    );
    const statuses = new Set(responses.map((r) => r.status));
    assert.ok([...statuses].every((s) => s === 201 || s === 422), `statuses: ${[...statuses].join(',')}`);
    const total = await Promise.all([a, b].map((u) => requestJson<{ balance: string }>(`${h.url}/users/${u}/balance`)));
    assert.equal(total.map((t) => BigInt(t.body.balance.replace('.', ''))).reduce((x, y) => x + y), 20_000n);
  });

  test('100 % hot pair: 2,000 transfers from 200 clients between two users keep the books exact', async () => {
    const load = await loadWithExactBooks(await h.createUsers(2), '100.00', {
      transfers: 2_000,
      concurrency: 200,
      hotPairShare: 1,
      duplicateShare: 0.1,
      maxAmountMinor: 3_000n,
    });
    assert.ok(load.acknowledged.size > 1_000, `only ${load.acknowledged.size} transfers acknowledged`);
  });

  test('overdraft race: 200 simultaneous 1.00 debits from a 50.00 wallet -> exactly 50 succeed', async () => {
    const [rich, ...others] = await h.createUsers(5);
    await h.fund(rich!, '50.00');
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        requestJson(`${h.url}/transfer`, { body: { from_user_id: rich, to_user_id: others[i % 4], amount_to_transfer: '1.00' } }),
      ),
    );
    assert.equal(responses.filter((r) => r.status === 201).length, 50);
    assert.equal(responses.filter((r) => r.status === 422).length, 150);
    const balance = await requestJson<{ balance: string }>(`${h.url}/users/${rich}/balance`);
    assert.equal(balance.body.balance, '0.00');
  });
});

describe('three transaction-service processes sharing the database', () => {
  const processes: SpawnedProcess[] = [];
  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
  });

  test('the same 2,000-transfer scenario, spread over three processes (three batch engines), keeps the books exact', async () => {
    const entry = join(__dirname, '..', 'src', 'entry-points', 'main.js');
    const urls: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const port = await findFreePort();
      const child = spawnNode(entry, { ...h.env, PORT: String(port), LOG_LEVEL: 'warn', DB_POOL_MAX: '10' });
      processes.push(child);
      urls.push(`http://127.0.0.1:${port}`);
      await waitForHttp(`http://127.0.0.1:${port}/healthz`, 30_000, child);
    }
    // Copies of one request go to different processes (and so to different batches): only the
    // database can keep them to one execution.
    const load = await loadWithExactBooks(await h.createUsers(20), '200.00', MIXED_LOAD, urls);
    assert.ok(load.acknowledged.size > 1_000);
  });
});
