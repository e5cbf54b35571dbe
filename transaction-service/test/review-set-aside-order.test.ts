import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import pg from 'pg';
import { createKnex, createLogger, createMetricsRegistry, migrateExclusively, type Knex } from '@wallet/platform';
import { createTestDatabase, metricValue, type TestDatabase, waitFor } from '@wallet/platform/testkit';
import { migrations, MIGRATION_LOCK_KEY } from '../src/data-access/migrations/001-create-wallet-schema';
import type { OperationOutcome } from '../src/entry-points/http/stored-response';
import { MoneyEngine } from '../src/domain/transfers/money-engine';
import type { KeyedCommand } from '../src/domain/transfers/money-command';
import { presentMoneyResult } from '../src/entry-points/http/money-presenter';
import { parseAddMoneyRequest, parseTransferRequest } from '../src/entry-points/http/money-requests';

/**
 * Review: items set aside together (one batch, its user's row held elsewhere) are each put back
 * at the front of the queue by their own timer (queue.unshift), so when the batch slot is busy
 * at that moment they come back in REVERSE arrival order: the later transfer takes the money and
 * the earlier one is refused.
 */
let database: TestDatabase;
let db: Knex;
const MAX = 100_000_000_00n;

before(async () => {
  database = await createTestDatabase('review_order');
  db = createKnex({ url: database.url, poolMax: 3, applicationName: 'review-fixtures' });
  await migrateExclusively(db, database.url, migrations, MIGRATION_LOCK_KEY);
});
after(async () => {
  await db.destroy();
  await database.drop();
});

const addMoney = (userId: string, amount: string): KeyedCommand => parseAddMoneyRequest({ user_id: userId, amount }, undefined, MAX);
const transfer = (from: string, to: string, amount: string): KeyedCommand =>
  parseTransferRequest({ from_user_id: from, to_user_id: to, amount_to_transfer: amount }, undefined, MAX);

async function holdRow(userId: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  await client.query('BEGIN');
  await client.query('SELECT 1 FROM users WHERE user_id = $1 FOR UPDATE', [userId]);
  return client;
}
const release = async (c: pg.Client) => {
  await c.query('COMMIT');
  await c.end();
};

test('two transfers set aside in one batch are re-run in arrival order', async () => {
  const [x, y, z, w, v] = Array.from({ length: 5 }, () => uuidv7()) as [string, string, string, string, string];
  await db('users').insert([x, y, z, w, v].map((user_id) => ({ user_id, created_at: new Date(), balance_minor: user_id === x ? '10000' : '0' })));
  const knex = createKnex({ url: database.url, poolMax: 2, applicationName: 'review-order', lockTimeoutMs: 1_000 });
  const metrics = createMetricsRegistry('review-order');
  const engine = new MoneyEngine({
    knex,
    present: presentMoneyResult,
    logger: createLogger({ service: 'review', level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    metrics,
    maxBatchSize: 500,
    maxBatchesInFlight: 1,
    queueLimit: 10_000,
    lockTimeoutMs: 1_000,
    maxLockRetries: 5,
  });
  const [hx, hw, hv] = [await holdRow(x), await holdRow(w), await holdRow(v)];
  try {
    // P keeps the slot busy for one lock timeout, so T1 and T2 (same tick, T1 first) share the next batch.
    const p = engine.submit(addMoney(w, '1.00'));
    const t1 = engine.submit(transfer(x, y, '60.00'));
    const t2 = engine.submit(transfer(x, z, '60.00'));
    for (const pr of [p, t1, t2]) pr.catch(() => undefined);
    const rowHeld = async () => metricValue(await metrics.metrics(), 'wallet_money_batch_retries_total', { reason: 'row_held' });
    await waitFor(async () => (((await rowHeld()) ?? 0) >= 3 ? true : undefined), { what: 'T1 and T2 to be set aside', timeoutMs: 10_000, intervalMs: 5 });
    // X is free again; Q (another held row) keeps the slot busy while T1's and T2's timers fire.
    await release(hx);
    const q = engine.submit(addMoney(v, '1.00'));
    q.catch(() => undefined);
    const [r1, r2] = await Promise.allSettled([t1, t2]);
    const show = (r: PromiseSettledResult<OperationOutcome>) => (r.status === 'fulfilled' ? `${r.value.status} ${JSON.stringify(r.value.body)}` : `rejected ${String(r.reason)}`);
    process.stderr.write(`T1 (arrived first): ${show(r1)}\nT2 (arrived second): ${show(r2)}\n`);
    assert.equal(r1.status === 'fulfilled' && r1.value.status, 201, 'T1 arrived first and the money was there: it must succeed');
    assert.equal(r2.status === 'fulfilled' && r2.value.status, 422, 'T2 arrived second: insufficient funds');
  } finally {
    await release(hw);
    await release(hv);
    await engine.stop();
    await knex.destroy();
  }
});
