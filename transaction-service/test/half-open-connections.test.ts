import { test } from 'node:test';
import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import pg from 'pg';
import { createKnex } from '@wallet/platform';
import { waitFor } from '@wallet/platform/testkit';
import type { OperationOutcome } from '../src/entry-points/http/stored-response';
import { PostgresFaultProxy } from './support/postgres-fault-proxy';
import { addMoney, createMoneyEngine, createUsers, testSettler, walletTestDatabaseForFile } from './support/engine-rig';

/**
 * Review (issue 17 fix): the engine's and the settler's connections have no client-side bound.
 * A connection that goes half-open (host crash, failover, a middlebox dropping state) while a
 * statement or a COMMIT is in flight never answers and never errors.
 */
const wallet = walletTestDatabaseForFile('review', 'review-fixtures', 3);

/** Resolves with the outcome (or the error) or 'no answer' after ms. */
function within<T>(p: Promise<T>, ms: number): Promise<T | Error | 'no answer'> {
  return Promise.race([p.catch((e: unknown) => e as Error), new Promise<'no answer'>((r) => setTimeout(() => r('no answer'), ms).unref())]);
}

/** As production (start-service.ts startMoneyEngine): money pool = in-flight + 1, a settler with a deadline per attempt. */
async function rig(options: { batchesViaProxy: boolean; settleViaProxy: boolean }) {
  const asService = await wallet.database.urlAs('transaction_service');
  const proxy = await PostgresFaultProxy.inFrontOf(asService);
  // As production, the server ends a session left idle in a transaction (here after 2 s): the
  // backend orphaned by a half-open connection gives its row locks back by itself.
  const knex = createKnex({
    statementTimeoutMs: 30_000,
    lockTimeoutMs: 1_000,
    url: options.batchesViaProxy ? proxy.url : asService,
    poolMax: 2,
    applicationName: 'review-money',
    idleInTransactionTimeoutMs: 2_000,
  });
  const settler = testSettler(options.settleViaProxy ? proxy.url : asService, {
    applicationName: 'review-settle',
    statementTimeoutMs: 30_000,
    attemptTimeoutMs: 3_000,
  });
  const { engine, metrics } = createMoneyEngine(knex, 'review', {
    settler,
    batchDeadlineMs: 3_000,
    lockTimeoutMs: 1_000,
    maxLockRetries: 5,
    commitTimeoutMs: 500,
  });
  return {
    engine,
    knex,
    proxy,
    metrics,
    async close() {
      await proxy.stop(); // ends every half-open connection, so the engine can drain
      await within(engine.stop(), 60_000);
      await within(knex.destroy(), 5_000);
    },
  };
}

test('privileges: transaction_service reads backend_xid of its own backends and may pg_terminate_backend them', async () => {
  const url = await wallet.database.urlAs('transaction_service');
  const victim = new pg.Client({ connectionString: url });
  const settler = new pg.Client({ connectionString: url });
  await victim.connect();
  await settler.connect();
  victim.on('error', () => undefined);
  try {
    await victim.query('BEGIN');
    const mine = await victim.query<{ pid: number; xid: string }>('SELECT pg_backend_pid() AS pid, (pg_current_xact_id()::text::bigint & 4294967295)::text AS xid');
    const { pid, xid } = mine.rows[0]!;
    const seen = await settler.query<{ backend_xid: string | null; who: string }>('SELECT backend_xid::text, current_user AS who FROM pg_stat_activity WHERE pid = $1', [pid]);
    assert.equal(seen.rows[0]?.backend_xid, xid, 'backend_xid visible to the same role');
    const ended = await settler.query<{ ended: boolean }>(
      'SELECT pg_terminate_backend(pid, 5000) AS ended FROM pg_stat_activity WHERE pid = $1 AND backend_xid = ($2)::text::xid',
      [pid, xid],
    );
    assert.equal(ended.rows[0]?.ended, true);
  } finally {
    await victim.end().catch(() => undefined);
    await settler.end();
  }
});

test('two COMMITs lost in half-open connections do not leak the money pool\'s connections: an unrelated request is still answered', async () => {
  const r = await rig({ batchesViaProxy: true, settleViaProxy: false });
  try {
    const [a, b, c] = await createUsers(wallet.db, 3);
    const first = Date.now();
    r.proxy.arm('hold-request', 'COMMIT;');
    const outcomeA = await within(r.engine.submit(addMoney(a!, '1.00', `k-${uuidv7()}`)), 15_000);
    // Settled (aborted: the backend was ended), re-run on the pool's other connection, answered.
    assert.equal((outcomeA as OperationOutcome).status, 200, `first lost COMMIT settled and answered: ${JSON.stringify(outcomeA)}`);
    const pool = (r.knex.client as { pool: { numUsed(): number; numFree(): number } }).pool;
    const backends = await wallet.db.raw<{ rows: unknown[] }>("SELECT 1 FROM pg_stat_activity WHERE application_name = 'review-money'");
    process.stderr.write(`after the first: pool used ${pool.numUsed()} free ${pool.numFree()}, live money backends ${backends.rows.length}, ${Date.now() - first} ms\n`);
    r.proxy.arm('hold-request', 'COMMIT;');
    const outcomeB = await within(r.engine.submit(addMoney(b!, '1.00', `k-${uuidv7()}`)), 15_000);
    process.stderr.write(`second lost COMMIT: ${outcomeB instanceof Error ? outcomeB.message : JSON.stringify(outcomeB)}; pool used ${pool.numUsed()}\n`);
    const started = performance.now();
    const unrelated = await within(r.engine.submit(addMoney(c!, '1.00')), 10_000);
    const ms = Math.round(performance.now() - started);
    assert.equal(
      (unrelated as OperationOutcome).status,
      200,
      `an unrelated add-money after two settled lost COMMITs: ${unrelated instanceof Error ? unrelated.message : JSON.stringify(unrelated)} after ${ms} ms`,
    );
  } finally {
    await r.close();
  }
});

test('the reply of the batch write statement lost in a half-open connection: the batch deadline drops it, the batch re-runs, everyone is answered', async () => {
  const r = await rig({ batchesViaProxy: true, settleViaProxy: false });
  try {
    const [a, b] = await createUsers(wallet.db, 2);
    r.proxy.arm('hold-reply', 'WITH moved AS');
    const stuck = r.engine.submit(addMoney(a!, '1.00'));
    stuck.catch(() => undefined);
    await waitFor(() => Promise.resolve(r.proxy.faults === 1 ? true : undefined), { what: 'the write to be black-holed' });
    const unrelated = await within(r.engine.submit(addMoney(b!, '1.00')), 10_000);
    assert.equal((unrelated as OperationOutcome).status, 200, `an unrelated add-money while one write's reply is lost: ${JSON.stringify(unrelated)}`);
    const rerun = await within(stuck, 10_000);
    assert.equal((rerun as OperationOutcome).status, 200, `the batch whose reply was lost, re-run: ${JSON.stringify(rerun)}`);
    const ledger = await wallet.db.raw<{ rows: unknown[] }>('SELECT 1 FROM transactions WHERE user_id = ?', [a!]);
    assert.equal(ledger.rows.length, 1, 'applied exactly once');
  } finally {
    await r.close();
  }
});

test('a settle whose own connection goes half-open: the attempt deadline gives up on it, the next attempt settles, the batch is answered', async () => {
  const r = await rig({ batchesViaProxy: true, settleViaProxy: true });
  try {
    const [a] = await createUsers(wallet.db, 1);
    // The batch's COMMIT reaches the server and commits; its reply is lost (timeout 500 ms).
    r.proxy.arm('hold-reply', 'COMMIT;');
    const held = r.engine.submit(addMoney(a!, '1.00', `k-${uuidv7()}`));
    await waitFor(() => Promise.resolve(r.proxy.faults === 1 ? true : undefined), { what: 'the COMMIT reply to be black-holed' });
    // The settler's INSERT reaches the server (and commits nothing new: conflict), its reply is lost.
    r.proxy.arm('hold-reply', "'aborted')");
    const outcome = await within(held, 20_000);
    assert.notEqual(outcome, 'no answer', 'settled within 20 s (each attempt has a client-side deadline)');
    assert.equal((outcome as OperationOutcome).status, 200, JSON.stringify(outcome));
    const ledger = await wallet.db.raw<{ rows: unknown[] }>('SELECT 1 FROM transactions WHERE user_id = ?', [a!]);
    assert.equal(ledger.rows.length, 1, 'the committed batch counted once, not re-run');
  } finally {
    await r.close();
  }
});
