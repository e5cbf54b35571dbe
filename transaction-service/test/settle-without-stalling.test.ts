import { test } from 'node:test';
import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import { createKnex } from '@wallet/platform';
import type { OperationOutcome } from '../src/entry-points/http/stored-response';
import { PostgresFaultProxy } from './support/postgres-fault-proxy';
import {
  addMoney,
  balanceOf,
  createMoneyEngine,
  createUsers,
  ENGINE_APPLICATION_NAME,
  metricOf,
  SETTLER_APPLICATION_NAME,
  testSettler,
  walletTestDatabaseForFile,
} from './support/engine-rig';
import { waitUntilWaitingOnLock } from '@wallet/platform/testkit';

/**
 * A COMMIT that gets no reply while its server process lives on (held in the network, or a
 * stalled peer): the engine stops waiting after its COMMIT timeout, frees the batch slot and
 * settles in the background. Settling waits for the batch's marker as long as its lock timeout,
 * then ends the batch's backend — as the service's own role, which may signal its own backends —
 * and learns from the marker that nothing committed. Meanwhile other users' money keeps moving.
 */
const wallet = walletTestDatabaseForFile('settle', 'settle-test-fixtures');

test('a held COMMIT is settled off the batch slot: another user is answered within 1 s, the held batch ends up applied once', async () => {
  const asService = await wallet.database.urlAs('transaction_service');
  const proxy = await PostgresFaultProxy.inFrontOf(asService);
  const knex = createKnex({ url: proxy.url, poolMax: 2, applicationName: ENGINE_APPLICATION_NAME, lockTimeoutMs: 1_000 });
  const { engine, metrics } = createMoneyEngine(knex, 'settle-test', {
    settler: testSettler(asService),
    lockTimeoutMs: 1_000,
    commitTimeoutMs: 300,
  });
  try {
    const [a, other] = (await createUsers(wallet.db, 2)) as [string, string];
    const key = `held-${uuidv7()}`;

    const holding = proxy.arm('hold-request');
    let heldAnswered = false;
    const held = engine.submit(addMoney(a, '5.00', key)).finally(() => (heldAnswered = true));
    await holding;
    // The engine gave up waiting for the reply and is settling: its settle connection waits on the
    // batch's uncommitted marker.
    await waitUntilWaitingOnLock(wallet.db, SETTLER_APPLICATION_NAME, 'the settlement to wait on the held batch');

    const started = performance.now();
    const unrelated = await engine.submit(addMoney(other, '1.00'));
    const elapsedMs = performance.now() - started;
    assert.equal(unrelated.status, 200);
    assert.ok(elapsedMs < 1_000, `another user's request was answered in ${Math.round(elapsedMs)} ms while a batch was being settled`);
    assert.equal(heldAnswered, false, 'nobody in the held batch is answered before it is settled');

    const outcome: OperationOutcome = await held;
    assert.equal(outcome.status, 200);
    assert.equal(outcome.body.updated_balance, '5.00');
    assert.equal(await balanceOf(wallet.db, a), '500', 'the held add-money applied exactly once');
    const rows = (await wallet.db('transactions').where({ user_id: a })) as unknown[];
    assert.equal(rows.length, 1);
    const aborted = await metricOf(metrics, 'wallet_money_ambiguous_commits_total', { resolution: 'aborted' });
    assert.equal(aborted, 1, 'settled as aborted: the held COMMIT never reached the server');

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
