import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import { AppError, createKnex, type Knex } from '@wallet/platform';
import { installTestTrigger, waitFor } from '@wallet/platform/testkit';
import type { OperationOutcome } from '../src/entry-points/http/stored-response';
import type { MoneyEngine, MoneyEngineOptions } from '../src/domain/transfers/money-engine';
import { PostgresFaultProxy } from './support/postgres-fault-proxy';
import {
  addMoney,
  balanceOf,
  balances,
  createMoneyEngine,
  createUsers,
  ENGINE_APPLICATION_NAME,
  metricOf,
  park,
  transfer,
  walletTestDatabase,
  type WalletTestDatabase,
} from './support/engine-rig';

/**
 * The group-commit engine against the real PostgreSQL, driven directly so that which items share
 * a batch is decided by the test: a row lock the test holds parks the engine's current batch,
 * and everything submitted meanwhile forms the next one, in submission order.
 */
let wallet: WalletTestDatabase;
let db: Knex;
const engines: Array<{ engine: MoneyEngine; knex: Knex }> = [];

before(async () => {
  wallet = await walletTestDatabase('engine', 'engine-test-fixtures', 4);
  db = wallet.db;
});

after(async () => {
  for (const { engine, knex } of engines) {
    await engine.stop();
    await knex.destroy();
  }
  await wallet.drop();
});

function startEngine(options: { url?: string } & Partial<Pick<MoneyEngineOptions, 'maxBatchSize' | 'queueLimit'>> = {}) {
  const { url, ...engineOptions } = options;
  const knex = createKnex({ url: url ?? wallet.database.url, poolMax: 2, applicationName: ENGINE_APPLICATION_NAME });
  const started = createMoneyEngine(knex, 'engine-test', engineOptions);
  engines.push({ engine: started.engine, knex });
  return started;
}

/**
 * A fresh engine and three users: `a` (funded with `fundA`, when given), `b`, and `blocker`, whose
 * row the test locks to park the engine while the next batch gathers.
 */
async function engineAndUsers(fundA?: string, options: Partial<Pick<MoneyEngineOptions, 'maxBatchSize' | 'queueLimit'>> = {}) {
  const started = startEngine(options);
  const [a, b, blocker] = (await createUsers(db, 3)) as [string, string, string];
  if (fundA !== undefined) await started.engine.submit(addMoney(a, fundA));
  return { ...started, a, b, blocker };
}

/** Settles every promise, keeping each item's own outcome or error. */
function outcomes(promises: Array<Promise<OperationOutcome>>) {
  return Promise.allSettled(promises);
}

/**
 * The money outbox (ADR 10) against the ledger for these users: exactly one pending event per
 * ledger row (no relay runs here), none for anything that did not commit, and per user the
 * sequence is 1..N with last_sequence = N.
 */
async function assertOneEventPerChange(userIds: string[]): Promise<void> {
  const { rows } = await db.raw<{ rows: Array<{ user_id: string; entries: string; events: string; max_sequence: string | null; last_sequence: string }> }>(
    `SELECT u.user_id, count(t.seq)::text AS entries, count(p.entry_seq)::text AS events,
            max(t.sequence)::text AS max_sequence, u.last_sequence::text
       FROM users u
       LEFT JOIN transactions t ON t.user_id = u.user_id
       LEFT JOIN money_events_pending p ON p.entry_seq = t.seq
      WHERE u.user_id = ANY(?::uuid[])
      GROUP BY u.user_id, u.last_sequence`,
    [userIds],
  );
  assert.equal(rows.length, userIds.length);
  for (const row of rows) {
    assert.equal(row.events, row.entries, `${row.user_id}: one event per ledger row`);
    assert.equal(row.max_sequence ?? '0', row.entries, `${row.user_id}: sequence 1..N`);
    assert.equal(row.last_sequence, row.entries, `${row.user_id}: last_sequence = N`);
  }
}

async function transfersCreatedAt(ids: string[]): Promise<Set<string>> {
  const rows = (await db('transfers').select('created_at').whereIn('transfer_id', ids)) as Array<{ created_at: Date }>;
  return new Set(rows.map((r) => r.created_at.toISOString()));
}

describe('one batch behaves as its items one after another, in arrival order', () => {
  test('B starts at 0.00: A->B 10.00 then B->C 10.00 both succeed; in the reverse order the first is refused', async () => {
    const { engine } = startEngine();
    const [a, b, c, blocker] = (await createUsers(db, 4)) as [string, string, string, string];
    await engine.submit(addMoney(a, '20.00'));

    let gate = await park(db, engine, blocker);
    const forward = [engine.submit(transfer(a, b, '10.00')), engine.submit(transfer(b, c, '10.00'))];
    await gate.release();
    const [ab, bc] = await Promise.all(forward);
    assert.equal(ab!.status, 201, JSON.stringify(ab!.body));
    assert.equal(bc!.status, 201, JSON.stringify(bc!.body));
    assert.equal(bc!.body.updated_balance, '0.00');
    // Same batch: one transaction, one clock reading for both.
    assert.equal((await transfersCreatedAt([String(ab!.body.transfer_id), String(bc!.body.transfer_id)])).size, 1);

    // Now A 10.00, B 0.00, C 10.00. Reverse order: B->C first must be refused.
    gate = await park(db, engine, blocker);
    const reverse = [engine.submit(transfer(b, c, '10.00')), engine.submit(transfer(a, b, '10.00'))];
    await gate.release();
    const [bc2, ab2] = await Promise.all(reverse);
    assert.equal(bc2!.status, 422);
    assert.equal(bc2!.body.code, 'insufficient_funds');
    assert.equal(bc2!.body.detail, "The sender's balance is 0.00");
    assert.equal(ab2!.status, 201);
    assert.deepEqual(await balances(db, [a, b, c]), ['0', '1000', '1000']);
  });

  test('each item has its own outcome: unknown users, overdraft and limit refusals do not abort the batch', async () => {
    const { engine, a, b, blocker } = await engineAndUsers('5.00');
    const ghost = uuidv7();
    const gate = await park(db, engine, blocker);
    const pending = [
      engine.submit(transfer(a, ghost, '1.00')),
      engine.submit(addMoney(ghost, '1.00')),
      engine.submit(transfer(a, b, '6.00')),
      engine.submit(transfer(a, b, '5.00')),
      engine.submit(addMoney(b, '0.01')),
    ];
    await gate.release();
    const results = await Promise.all(pending);
    assert.deepEqual(
      results.map((r) => [r.status, r.status >= 400 ? r.body.code : 'ok']),
      [
        [404, 'user_not_found'],
        [404, 'user_not_found'],
        [422, 'insufficient_funds'],
        [201, 'ok'],
        [200, 'ok'],
      ],
    );
    assert.deepEqual(await balances(db, [a, b]), ['0', '501']);
  });
});

describe('idempotency keys inside one batch', () => {
  test('copies of one key: one execution; identical copies replay it, a different payload is 422', async () => {
    const { engine, a, b, blocker } = await engineAndUsers('100.00');
    const key = `copies-${uuidv7()}`;
    const gate = await park(db, engine, blocker);
    const pending = outcomes([
      engine.submit(transfer(a, b, '7.00', key)),
      engine.submit(transfer(a, b, '7.00', key)),
      engine.submit(transfer(a, b, '8.00', key)),
      engine.submit(transfer(a, b, '7.00', key)),
      // The same key on the other endpoint is another key.
      engine.submit(addMoney(b, '1.00', key)),
    ]);
    await gate.release();
    const [first, copy, different, copy2, other] = (await pending) as [
      PromiseSettledResult<OperationOutcome>,
      PromiseSettledResult<OperationOutcome>,
      PromiseSettledResult<OperationOutcome>,
      PromiseSettledResult<OperationOutcome>,
      PromiseSettledResult<OperationOutcome>,
    ];
    assert.equal(first.status, 'fulfilled');
    assert.equal(copy.status, 'fulfilled');
    assert.equal(copy2.status, 'fulfilled');
    assert.equal(other.status, 'fulfilled');
    const leader = (first).value;
    assert.equal(leader.status, 201);
    assert.equal(leader.replayed, false);
    for (const c of [copy, copy2]) {
      const value = (c).value;
      assert.equal(value.replayed, true);
      assert.deepEqual(value.body, leader.body);
    }
    assert.equal(different.status, 'rejected');
    const error = (different).reason as AppError;
    assert.equal(error.code, 'idempotency_key_reused');
    assert.equal((other).value.status, 200);
    const moved = await db('transfers').where({ from_user_id: a }).count<{ count: string }[]>('* as count');
    assert.equal(moved[0]!.count, '1');
    assert.deepEqual(await balances(db, [a, b]), ['9300', '800']);

    // A later batch with the key replays the stored outcome byte for byte.
    const later = await engine.submit(transfer(a, b, '7.00', key));
    assert.equal(later.replayed, true);
    assert.equal(JSON.stringify(later.body), JSON.stringify(leader.body));
  });

  test('a key whose stored outcome is a refusal: an identical copy replays the refusal, never runs', async () => {
    const { engine, a, b, blocker } = await engineAndUsers();
    const key = `refused-${uuidv7()}`;
    const refused = await engine.submit(transfer(a, b, '1.00', key));
    assert.equal(refused.status, 422);
    await engine.submit(addMoney(a, '10.00'));
    const gate = await park(db, engine, blocker);
    const pending = [engine.submit(transfer(a, b, '1.00', key)), engine.submit(transfer(a, b, '1.00', key))];
    await gate.release();
    for (const r of await Promise.all(pending)) {
      assert.equal(r.status, 422);
      assert.equal(r.replayed, true);
    }
    assert.equal(await balanceOf(db, a), '1000');
  });
});

describe('failures', () => {
  test('an item whose write fails is answered alone; the rest of its batch commits', async () => {
    const { engine, metrics, a, b, blocker } = await engineAndUsers('100.00');
    // A test-only trigger refuses one transfer (amount 13.37): an error no retry can cure.
    const removeTrigger = await installTestTrigger(db, {
      name: 'refuse_1337',
      on: 'BEFORE INSERT ON transfers FOR EACH ROW',
      body: "IF NEW.amount_minor = 1337 THEN RAISE EXCEPTION 'refused by test' USING ERRCODE = 'P0001'; END IF; RETURN NEW;",
    });
    try {
      const gate = await park(db, engine, blocker);
      const pending = outcomes([
        engine.submit(transfer(a, b, '1.00')),
        engine.submit(transfer(a, b, '2.00', `k-${uuidv7()}`)),
        engine.submit(transfer(a, b, '13.37', `bad-${uuidv7()}`)),
        engine.submit(transfer(a, b, '3.00')),
        engine.submit(transfer(b, a, '0.50')),
      ]);
      await gate.release();
      const results = await pending;
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
      );
      assert.ok(!(((results[2] as PromiseRejectedResult).reason) instanceof AppError), 'the failing item is a 500');
      assert.deepEqual(await balances(db, [a, b]), [String(10_000 - 600 + 50), String(600 - 50)]);
      const splits = await metricOf(metrics, 'wallet_money_batch_retries_total', { reason: 'split' });
      assert.ok(splits !== undefined && splits >= 1, `split retries: ${splits}`);
      await assertOneEventPerChange([a, b, blocker]);
    } finally {
      await removeTrigger();
    }
  });

  test('a deadlock or serialization failure re-runs the whole batch: each item applied once', async () => {
    const { engine, metrics, a, b, blocker } = await engineAndUsers('100.00');
    // Fails the first two attempts (a sequence is not rolled back), then lets the batch through.
    const removeTrigger = await installTestTrigger(db, {
      name: 'fail_twice',
      on: 'AFTER INSERT ON transfers FOR EACH STATEMENT',
      counter: true,
      body: `IF nextval('fail_twice_calls') = 1 THEN RAISE EXCEPTION 'test deadlock' USING ERRCODE = '40P01'; END IF;
             IF currval('fail_twice_calls') = 2 THEN RAISE EXCEPTION 'test serialization' USING ERRCODE = '40001'; END IF;
             RETURN NULL;`,
    });
    try {
      const gate = await park(db, engine, blocker);
      const pending = [
        engine.submit(transfer(a, b, '1.00')),
        engine.submit(transfer(a, b, '2.00', `k-${uuidv7()}`)),
        engine.submit(transfer(b, a, '0.25')),
      ];
      await gate.release();
      const results = await Promise.all(pending);
      assert.deepEqual(results.map((r) => r.status), [201, 201, 201]);
      assert.deepEqual(await balances(db, [a, b]), [String(10_000 - 300 + 25), String(300 - 25)]);
      assert.equal(await metricOf(metrics, 'wallet_money_batch_retries_total', { reason: '40P01' }), 1);
      assert.equal(await metricOf(metrics, 'wallet_money_batch_retries_total', { reason: '40001' }), 1);
      const ledger = await db('transactions').whereIn('user_id', [a, b]).andWhere({ kind: 'transfer' }).count<{ count: string }[]>('* as count');
      assert.equal(ledger[0]!.count, '6');
      await assertOneEventPerChange([a, b, blocker]);
    } finally {
      await removeTrigger();
    }
  });

  test('a connection killed in the middle of a batch re-runs the batch: answered once, applied once', async () => {
    const { engine, metrics, a, b, blocker } = await engineAndUsers('10.00');
    const gate = await park(db, engine, blocker);
    const pending = [engine.submit(transfer(a, b, '1.00')), engine.submit(transfer(a, b, '2.00', `k-${uuidv7()}`))];
    // The parked batch's connection is killed while it waits: the batch, with the two behind it,
    // must be re-run, not answered 500.
    await db.raw("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ? AND wait_event_type = 'Lock'", [
      ENGINE_APPLICATION_NAME,
    ]);
    await gate.commit();
    const parkedOutcome: unknown = await gate.parked.catch((error: unknown) => error);
    assert.equal((parkedOutcome as OperationOutcome).status, 200, String(parkedOutcome));
    const results = await Promise.all(pending);
    assert.deepEqual(results.map((r) => r.status), [201, 201]);
    assert.deepEqual(await balances(db, [a, b]), ['700', '300']);
    assert.equal(await balanceOf(db, blocker), '1');
    const reruns = await metricOf(metrics, 'wallet_money_batch_retries_total', { reason: 'connection' });
    assert.ok(reruns !== undefined && reruns >= 1, `connection retries: ${reruns}`);
    await assertOneEventPerChange([a, b, blocker]);
  });

  for (const mode of ['after-commit', 'before-commit'] as const) {
    test(`a connection lost ${mode === 'after-commit' ? 'after COMMIT was sent (ambiguous)' : 'before COMMIT'}: an unkeyed transfer runs exactly once`, async () => {
      const proxy = await PostgresFaultProxy.inFrontOf(wallet.database.url);
      try {
        const { engine, metrics } = startEngine({ url: proxy.url });
        const [a, b] = (await createUsers(db, 2)) as [string, string];
        await engine.submit(addMoney(a, '10.00'));

        proxy.arm(mode === 'after-commit' ? 'drop-after' : 'drop-before');
        const result = await engine.submit(transfer(a, b, '4.00'));
        assert.equal(proxy.faults, 1, 'the proxy dropped a connection at COMMIT');
        assert.equal(result.status, 201);
        const moved = await db('transfers').where({ from_user_id: a }).count<{ count: string }[]>('* as count');
        assert.equal(moved[0]!.count, '1', 'the transfer ran exactly once');
        assert.deepEqual(await balances(db, [a, b]), ['600', '400']);
        const resolution = mode === 'after-commit' ? 'committed' : 'aborted';
        assert.equal(await metricOf(metrics, 'wallet_money_ambiguous_commits_total', { resolution }), 1);
        await assertOneEventPerChange([a, b]);
      } finally {
        await proxy.stop();
      }
    });
  }
});

describe('bounds', () => {
  test('a full queue refuses at once with 503, and what it refused never moves', async () => {
    const { engine, a, b, blocker } = await engineAndUsers('10.00', { queueLimit: 3 });
    const gate = await park(db, engine, blocker);
    // Each item records whether it settled while the engine was still parked.
    let gateOpen = false;
    const settledWhileParked: boolean[] = [];
    const pending = outcomes(
      Array.from({ length: 10 }, (_, i) => {
        settledWhileParked[i] = false;
        const settle = () => (settledWhileParked[i] = !gateOpen);
        return engine.submit(transfer(a, b, '1.00')).finally(settle);
      }),
    );
    // "At once": the seven refusals settle while the batch is still parked; the three accepted wait.
    await waitFor(() => Promise.resolve(settledWhileParked.filter(Boolean).length >= 7 ? true : undefined), {
      timeoutMs: 5_000,
      what: 'the refusals to come back while the engine is parked',
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(settledWhileParked.filter(Boolean).length, 7, 'only the refusals settled while the engine was parked');
    gateOpen = true;
    await gate.release();
    const results = await pending;
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r).reason as AppError);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
    assert.equal(refused.length, 7);
    assert.ok(refused.every((e) => e.code === 'service_unavailable' && e.status === 503));
    results.forEach((r, i) =>
      assert.equal(settledWhileParked[i], r.status === 'rejected', `item ${i} (${r.status}) settled ${settledWhileParked[i] ? 'before' : 'after'} the gate opened`),
    );
    assert.deepEqual(await balances(db, [a, b]), ['700', '300']);
  });

  test('a batch maximum of 1 runs every operation in its own transaction', async () => {
    const { engine, metrics, a, b, blocker } = await engineAndUsers('10.00', { maxBatchSize: 1 });
    const gate = await park(db, engine, blocker);
    const pending = [engine.submit(transfer(a, b, '1.00')), engine.submit(transfer(a, b, '1.00'))];
    await gate.release();
    const results = await Promise.all(pending);
    assert.equal((await transfersCreatedAt(results.map((r) => String(r.body.transfer_id)))).size, 2);
    // Four batches of one: the funding, the parked credit and each transfer on its own.
    assert.equal(await metricOf(metrics, 'wallet_money_batch_size_bucket', { le: '1' }), 4);
    assert.equal(await metricOf(metrics, 'wallet_money_batch_size_count'), 4);
  });
});
