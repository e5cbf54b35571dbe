import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createKnex } from '@wallet/platform';
import { waitFor } from '@wallet/platform/testkit';
import type { OperationOutcome } from '../src/entry-points/http/stored-response';
import { holdRowLock } from '@wallet/platform/testkit';
import { addMoney, createMoneyEngine, createUsers, metricOf, transfer, walletTestDatabaseForFile } from './support/engine-rig';

/**
 * Review: items set aside together (one batch, its user's row held elsewhere) are each put back
 * at the front of the queue by their own timer (queue.unshift), so when the batch slot is busy
 * at that moment they come back in REVERSE arrival order: the later transfer takes the money and
 * the earlier one is refused.
 */
const wallet = walletTestDatabaseForFile('review_order', 'review-fixtures', 3);

test('two transfers set aside in one batch are re-run in arrival order', async () => {
  const [x] = (await createUsers(wallet.db, 1, 10_000n)) as [string];
  const [y, z, w, v] = (await createUsers(wallet.db, 4)) as [string, string, string, string];
  const knex = createKnex({ url: wallet.database.url, poolMax: 2, applicationName: 'review-order', lockTimeoutMs: 1_000 });
  const { engine, metrics } = createMoneyEngine(knex, 'review-order', { lockTimeoutMs: 1_000, maxLockRetries: 5 });
  // Each row lock on a fixture connection of its own (the fixture pool holds three).
  const [hx, hw, hv] = [await holdRowLock(wallet.db, x), await holdRowLock(wallet.db, w), await holdRowLock(wallet.db, v)];
  try {
    // P keeps the slot busy for one lock timeout, so T1 and T2 (same tick, T1 first) share the next batch.
    const p = engine.submit(addMoney(w, '1.00'));
    const t1 = engine.submit(transfer(x, y, '60.00'));
    const t2 = engine.submit(transfer(x, z, '60.00'));
    for (const pr of [p, t1, t2]) pr.catch(() => undefined);
    const rowHeld = () => metricOf(metrics, 'wallet_money_batch_retries_total', { reason: 'row_held' });
    await waitFor(async () => (((await rowHeld()) ?? 0) >= 3 ? true : undefined), { what: 'T1 and T2 to be set aside', timeoutMs: 10_000, intervalMs: 5 });
    // X is free again; Q (another held row) keeps the slot busy while T1's and T2's timers fire.
    await hx.release();
    const q = engine.submit(addMoney(v, '1.00'));
    q.catch(() => undefined);
    const [r1, r2] = await Promise.allSettled([t1, t2]);
    const show = (r: PromiseSettledResult<OperationOutcome>) => (r.status === 'fulfilled' ? `${r.value.status} ${JSON.stringify(r.value.body)}` : `rejected ${String(r.reason)}`);
    process.stderr.write(`T1 (arrived first): ${show(r1)}\nT2 (arrived second): ${show(r2)}\n`);
    assert.equal(r1.status === 'fulfilled' && r1.value.status, 201, 'T1 arrived first and the money was there: it must succeed');
    assert.equal(r2.status === 'fulfilled' && r2.value.status, 422, 'T2 arrived second: insufficient funds');
  } finally {
    await hx.release();
    await hw.release();
    await hv.release();
    await engine.stop();
    await knex.destroy();
  }
});
