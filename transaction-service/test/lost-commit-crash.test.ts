import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import { closeInOrder, createKnex, ensureDatabaseExists, migrateExclusively, type Knex, type MetricsRegistry } from '@wallet/platform';
import { waitFor } from '@wallet/platform/testkit';
import { migrations, MIGRATION_LOCK_KEY } from '../src/data-access/migrations/001-create-wallet-schema';
import type { OperationOutcome } from '../src/entry-points/http/stored-response';
import type { MoneyEngine } from '../src/domain/transfers/money-engine';
import { PostgresFaultProxy } from './support/postgres-fault-proxy';
import { addMoney, balances, createMoneyEngine, createUsers, ENGINE_APPLICATION_NAME, metricOf, park, testSettler, transfer } from './support/engine-rig';
import { privatePostgresAvailability, startPrivatePostgres, type PrivatePostgres } from './support/private-postgres';

/**
 * A money batch's COMMIT is in flight when PostgreSQL crashes (immediate stop: every backend
 * killed, recovery from WAL at the next start). After the restart other transactions commit —
 * so the batch's transaction id may be handed out again — and only then does the client's
 * connection break. The engine must learn the truth from durable evidence: a success is answered
 * only for money that moved, a retry with the same key replays or runs once, the books are exact.
 * The cluster is the test's own (private-postgres.ts), so the crash touches nothing else.
 */
const availability = privatePostgresAvailability();

let pg: PrivatePostgres;
let walletUrl: string;
let db: Knex;

before(async () => {
  if (!availability.available) return;
  pg = await startPrivatePostgres(availability.binDir);
  walletUrl = pg.url.replace(/\/postgres$/, '/wallet');
  await ensureDatabaseExists(walletUrl);
  db = fixtureKnex();
  await migrateExclusively(db, walletUrl, migrations, MIGRATION_LOCK_KEY);
});

after(async () => {
  if (!availability.available) return;
  await db.destroy();
  pg.destroy();
});

function fixtureKnex(): Knex {
  return createKnex({ url: walletUrl, poolMax: 2, applicationName: 'crash-test-fixtures' });
}

interface Rig {
  engine: MoneyEngine;
  metrics: MetricsRegistry;
  proxy: PostgresFaultProxy;
  close(): Promise<void>;
}

/** An engine whose batches go through the fault proxy; settling connects directly. */
async function startRig(): Promise<Rig> {
  const proxy = await PostgresFaultProxy.inFrontOf(walletUrl);
  const knex = createKnex({ url: proxy.url, poolMax: 2, applicationName: ENGINE_APPLICATION_NAME });
  const { engine, metrics } = createMoneyEngine(knex, 'crash-test', {
    settler: testSettler(walletUrl),
    // The test decides when the held connection breaks; the engine must not give up first.
    commitTimeoutMs: 120_000,
  });
  return { engine, metrics, proxy, close: closeInOrder(() => engine.stop(), () => proxy.stop(), () => knex.destroy()) };
}

/** Commits many small transactions, so the crashed batch's transaction id is handed out again. */
async function burnTransactionIds(knex: Knex, count: number): Promise<void> {
  await knex.raw('CREATE TABLE IF NOT EXISTS xid_burner (n integer)');
  for (let i = 0; i < count; i += 1) await knex.raw('INSERT INTO xid_burner VALUES (?)', [i]);
}

/** Each user's balance equals its ledger: the sum of its credits less its debits. */
async function assertBooksExact(ids: string[]): Promise<void> {
  const rows = (await db.raw<{ rows: Array<{ user_id: string; balance_minor: string; ledger: string }> }>(
    `SELECT u.user_id, u.balance_minor::text,
            COALESCE(SUM(CASE t.type WHEN 'credit' THEN t.amount_minor ELSE -t.amount_minor END), 0)::text AS ledger
       FROM users u LEFT JOIN transactions t ON t.user_id = u.user_id
      WHERE u.user_id = ANY(?::uuid[]) GROUP BY u.user_id, u.balance_minor`,
    [ids],
  )).rows;
  for (const row of rows) assert.equal(row.balance_minor, row.ledger, `user ${row.user_id}: balance = ledger`);
}

const CASES: Array<{ mode: 'hold-request' | 'hold-reply'; expected: 'committed' | 'aborted'; title: string }> = [
  { mode: 'hold-request', expected: 'aborted', title: 'a COMMIT that never reached PostgreSQL before the crash is not reported as done; the batch runs once after' },
  { mode: 'hold-reply', expected: 'committed', title: 'a COMMIT that reached disk before the crash is reported committed, with its own answers' },
];

describe('a batch whose COMMIT was in flight when PostgreSQL crashed', { skip: availability.available ? false : availability.reason }, () => {
  for (const { mode, expected, title } of CASES) {
    test(title, async () => {
      const rig = await startRig();
      try {
        const [a, b, blocker] = (await createUsers(db, 3)) as [string, string, string];
        await rig.engine.submit(addMoney(a, '6.01'));
        const key = `crash-${uuidv7()}`;

        // One batch: a keyed add-money of 5.00 and an unkeyed transfer of 1.00.
        const gate = await park(db, rig.engine, blocker);
        const pending: Array<Promise<OperationOutcome>> = [rig.engine.submit(addMoney(a, '5.00', key)), rig.engine.submit(transfer(a, b, '1.00'))];
        const caught = pending.map((p) => p.catch((error: unknown) => error));
        await gate.release();
        // The parked batch has committed; the next COMMIT on the engine's connections is ours.
        await rig.proxy.arm(mode);
        if (mode === 'hold-reply') {
          await waitFor(async () => ((await balances(db, [b]))[0] === '100' ? true : undefined), { what: 'the held batch to commit' });
        }

        pg.crash();
        pg.start();
        await db.destroy();
        db = fixtureKnex();
        await burnTransactionIds(db, 200);
        assert.equal(await Promise.race([Promise.all(caught).then(() => 'answered'), Promise.resolve('waiting')]), 'waiting', 'nobody is answered while the COMMIT is in flight');
        rig.proxy.cut();

        const [added, moved] = (await Promise.all(caught)) as [OperationOutcome, OperationOutcome];
        assert.equal(added.status, 200, JSON.stringify(added));
        assert.equal(moved.status, 201, JSON.stringify(moved));
        assert.deepEqual(await balances(db, [a, b]), ['1001', '100'], 'a: 6.01 + 5.00 - 1.00; b: 1.00');
        // What the callers were told is what the database holds.
        assert.equal(added.body.updated_balance, '11.01', 'the add-money ran before the transfer, as submitted');
        const ledger = (await db.raw<{ rows: Array<{ amount_minor: string }> }>('SELECT amount_minor FROM transactions WHERE id = ?', [String(added.body.transaction_id)])).rows;
        assert.deepEqual(ledger.map((r) => r.amount_minor), ['500'], 'the answered add-money is in the ledger, once');
        const transfers = (await db('transfers').where({ from_user_id: a })) as unknown[];
        assert.equal(transfers.length, 1, 'the unkeyed transfer ran exactly once');
        assert.equal(await metricOf(rig.metrics, 'wallet_money_ambiguous_commits_total', { resolution: expected }), 1, `settled as ${expected}`);

        const retried = await rig.engine.submit(addMoney(a, '5.00', key));
        assert.equal(retried.replayed, true, 'a retry with the same key replays');
        assert.equal(retried.body.transaction_id, added.body.transaction_id);
        assert.deepEqual(await balances(db, [a]), ['1001']);
        await assertBooksExact([a, b, blocker]);
        // Money events (ADR 10): one outbox row per ledger row that committed, none for the lost attempt.
        const { rows } = await db.raw<{ rows: Array<{ entries: string; events: string }> }>(
          `SELECT count(t.seq)::text AS entries, count(p.entry_seq)::text AS events
             FROM transactions t LEFT JOIN money_events_pending p ON p.entry_seq = t.seq
            WHERE t.user_id = ANY(?::uuid[])`,
          [[a, b, blocker]],
        );
        assert.equal(rows[0]!.events, rows[0]!.entries, 'one money event per committed change');
        assert.equal(rows[0]!.entries, '5', 'a: 6.01, 5.00, -1.00; b: +1.00; blocker: +0.01');
      } finally {
        await rig.close();
      }
    });
  }
});
