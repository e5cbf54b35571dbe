import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import { createKnex, createLogger, createMetricsRegistry, migrateExclusively, type Knex } from '@wallet/platform';
import { createTestDatabase, type TestDatabase, waitFor } from '@wallet/platform/testkit';
import { migrations, MIGRATION_LOCK_KEY } from '../src/data-access/migrations/001-create-wallet-schema';
import type { OperationOutcome } from '../src/entry-points/http/stored-response';
import { MoneyEngine } from '../src/domain/transfers/money-engine';
import type { KeyedCommand } from '../src/domain/transfers/money-command';
import { presentMoneyResult } from '../src/entry-points/http/money-presenter';
import { parseAddMoneyRequest } from '../src/entry-points/http/money-requests';
import { connectionPerAttemptSettler } from '../src/data-access/money-transaction';
import { CommitHoldingProxy } from './support/commit-holding-proxy';

/**
 * A COMMIT that gets no reply while its server process lives on (held in the network, or a
 * stalled peer): the engine stops waiting after its COMMIT timeout, frees the batch slot and
 * settles in the background. Settling waits for the batch's marker as long as its lock timeout,
 * then ends the batch's backend — as the service's own role, which may signal its own backends —
 * and learns from the marker that nothing committed. Meanwhile other users' money keeps moving.
 */
let database: TestDatabase;
let db: Knex;
const MAX = 100_000_000_00n;

before(async () => {
  database = await createTestDatabase('settle');
  db = createKnex({ url: database.url, poolMax: 2, applicationName: 'settle-test-fixtures' });
  await migrateExclusively(db, database.url, migrations, MIGRATION_LOCK_KEY);
});

after(async () => {
  await db.destroy();
  await database.drop();
});

const addMoney = (userId: string, amount: string, key?: string): KeyedCommand =>
  parseAddMoneyRequest({ user_id: userId, amount }, key, MAX);

async function balanceOf(userId: string): Promise<string> {
  const row = (await db('users').select('balance_minor').where({ user_id: userId }).first()) as { balance_minor: string };
  return row.balance_minor;
}

test('a held COMMIT is settled off the batch slot: another user is answered within 1 s, the held batch ends up applied once', async () => {
  const asService = new URL(await database.urlAs('transaction_service'));
  const proxy = new CommitHoldingProxy({ host: asService.hostname, port: Number(asService.port || 5432) });
  const viaProxy = new URL(asService);
  viaProxy.host = await proxy.start();
  const knex = createKnex({ url: viaProxy.toString(), poolMax: 2, applicationName: 'engine-under-test', lockTimeoutMs: 1_000 });
  const settler = connectionPerAttemptSettler({
    url: asService.toString(),
    applicationName: 'engine-settle',
    lockTimeoutMs: 1_000,
    statementTimeoutMs: 10_000,
    attemptTimeoutMs: 6_000,
  });
  const metrics = createMetricsRegistry('settle-test');
  const engine = new MoneyEngine({
    knex,
    settler,
    present: presentMoneyResult,
    logger: createLogger({ service: 'settle-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    metrics,
    maxBatchSize: 500,
    maxBatchesInFlight: 1,
    queueLimit: 10_000,
    lockTimeoutMs: 1_000,
    commitTimeoutMs: 300,
  });
  try {
    const [a, other] = [uuidv7(), uuidv7()];
    await db('users').insert([a, other].map((user_id) => ({ user_id, created_at: new Date() })));
    const key = `held-${uuidv7()}`;

    proxy.arm('hold-request');
    let heldAnswered = false;
    const held = engine.submit(addMoney(a, '5.00', key)).finally(() => (heldAnswered = true));
    await proxy.holding;
    // The engine gave up waiting for the reply and is settling: its settle connection waits on the
    // batch's uncommitted marker.
    await waitFor(
      async () => {
        const rows = await db.raw<{ rows: unknown[] }>(
          "SELECT 1 FROM pg_stat_activity WHERE application_name = 'engine-settle' AND wait_event_type = 'Lock'",
        );
        return rows.rows.length > 0 ? true : undefined;
      },
      { what: 'the settlement to wait on the held batch' },
    );

    const started = performance.now();
    const unrelated = await engine.submit(addMoney(other, '1.00'));
    const elapsedMs = performance.now() - started;
    assert.equal(unrelated.status, 200);
    assert.ok(elapsedMs < 1_000, `another user's request was answered in ${Math.round(elapsedMs)} ms while a batch was being settled`);
    assert.equal(heldAnswered, false, 'nobody in the held batch is answered before it is settled');

    const outcome: OperationOutcome = await held;
    assert.equal(outcome.status, 200);
    assert.equal(outcome.body.updated_balance, '5.00');
    assert.equal(await balanceOf(a), '500', 'the held add-money applied exactly once');
    const rows = (await db('transactions').where({ user_id: a })) as unknown[];
    assert.equal(rows.length, 1);
    const aborted = (await metrics.getSingleMetric('wallet_money_ambiguous_commits_total')!.get()).values.find(
      (v) => v.labels.resolution === 'aborted',
    );
    assert.equal(aborted?.value, 1, 'settled as aborted: the held COMMIT never reached the server');

    const replay = await engine.submit(addMoney(a, '5.00', key));
    assert.equal(replay.replayed, true);
    assert.equal(replay.body.transaction_id, outcome.body.transaction_id);
  } finally {
    await engine.stop();
    proxy.cut();
    await proxy.stop();
    await knex.destroy();
  }
});
