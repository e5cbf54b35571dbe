import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { closeServer, createKnex, createLogger, createOperatorApp, listen } from '@wallet/platform';
import { type CompletedProcess, requestJson, runToCompletion, serviceCredentialsEnv, startTransactionServiceHarness, type TransactionServiceHarness } from '@wallet/platform/testkit';
import { RECONCILE_LOCK_KEY, reconcileBalances, type ReconcileReport } from '../src/domain/reconcile-balances';
import { createOperatorRouter } from '../src/entry-points/operator/create-operator-router';

/**
 * Reconciliation checks a whole database, so each test that writes books, or tampers with them,
 * runs against a service on a database of its own (beforeEach/afterEach): no test sees another's
 * rows, and a tampered or failed test leaves nothing behind, whatever the order.
 */
let h: TransactionServiceHarness;
let reconcileUrl: string;

async function startOwnService(): Promise<void> {
  h = await startTransactionServiceHarness();
  // The service's own operators' listener.
  reconcileUrl = h.service.operatorUrl;
}

async function transfer(from: string, to: string, amount: string): Promise<string> {
  const response = await requestJson(`${h.url}/transfer`, {
    body: { from_user_id: from, to_user_id: to, amount_to_transfer: amount },
  });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return String(response.body.transfer_id);
}

/** Runs the compiled CLI the way `make reconcile` does, against this test's database. */
function runCli(): Promise<CompletedProcess> {
  const entry = join(__dirname, '..', 'src', 'entry-points', 'reconcile.js');
  // `make reconcile` runs it with transaction-service's credentials (credentials.sh exec).
  const env = { PATH: process.env.PATH ?? '', ...serviceCredentialsEnv('transaction-service'), DATABASE_URL: h.database.url };
  return runToCompletion(process.execPath, [entry], { env });
}

/**
 * Four users with books written through the API; the fourth has no ledger at all and a zero
 * balance (consistent, not a mismatch). Each test writes its own, so any test runs alone.
 */
async function writeBooks(): Promise<[string, string, string, string]> {
  const [a, b, c, d] = (await h.createUsers(4)) as [string, string, string, string];
  await h.fund(a, '100.00');
  await h.fund(b, '50.05');
  // In order: c can only send once it has received.
  for (const [from, to, amount] of [[a, b, '10.01'], [b, c, '20.00'], [a, c, '0.99'], [c, a, '5.00']] as const) {
    await transfer(from, to, amount);
  }
  return [a, b, c, d];
}

async function countOf(table: 'users' | 'transfers'): Promise<number> {
  const [row] = await h.db(table).count<Array<{ n: string }>>('* as n');
  return Number(row?.n);
}

describe('reconciliation', () => {
  beforeEach(startOwnService);
  afterEach(() => h.stop());

  test('books written by the API reconcile: every balance equals its ledger', async () => {
    await writeBooks();
    const users = await countOf('users');
    const transfers = await countOf('transfers');

    const report = await reconcileBalances(h.db);
    assert.equal(report.ok, true, JSON.stringify(report.mismatches));
    assert.equal(report.users_checked, users, 'every user is checked, the one without a ledger too');
    assert.equal(report.transfers_checked, transfers);
    assert.deepEqual(report.mismatches, []);

    const http = await requestJson<ReconcileReport>(`${reconcileUrl}/internal/reconcile`);
    assert.equal(http.status, 200);
    assert.equal(http.body.ok, true);
    assert.equal(http.body.users_checked, users);
    assert.deepEqual(http.body.mismatches, []);

    const cli = await runCli();
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal((JSON.parse(cli.stdout) as ReconcileReport).ok, true);
  });

  test('a balance changed behind the ledger is reported, by the function, the route and the CLI', async () => {
    const [, b] = await writeBooks();
    await h.db('users').where({ user_id: b }).increment('balance_minor', 1);

    const report = await reconcileBalances(h.db);
    assert.equal(report.ok, false);
    assert.equal(report.mismatch_count, 1);
    const [mismatch] = report.mismatches;
    assert.equal(mismatch?.kind, 'balance');
    assert.ok(mismatch?.kind === 'balance');
    assert.equal(mismatch.user_id, b);
    assert.equal(mismatch.difference, '0.01');
    const served = await requestJson<{ balance: string }>(`${h.url}/users/${b}/balance`);
    assert.equal(mismatch.balance, served.body.balance);
    assert.notEqual(mismatch.ledger_balance, mismatch.balance);

    const http = await requestJson<ReconcileReport>(`${reconcileUrl}/internal/reconcile`);
    assert.equal(http.status, 200);
    assert.equal(http.body.ok, false);
    assert.equal(http.body.mismatches[0]?.kind, 'balance');

    const cli = await runCli();
    assert.equal(cli.code, 1, 'the CLI exits 1 on a mismatch');
    const printed = JSON.parse(cli.stdout) as ReconcileReport;
    assert.equal(printed.ok, false);
    assert.equal(printed.mismatch_count, 1);

    // Undone, the books reconcile again (the database goes with the test either way).
    await h.db('users').where({ user_id: b }).decrement('balance_minor', 1);
    assert.equal((await reconcileBalances(h.db)).ok, true);
  });

  test('a held amount changed behind the holds is reported with both amounts', async () => {
    const [a, b] = await writeBooks();
    const hold = await requestJson<{ hold_id: string }>(`${h.url}/holds`, { body: { from_user_id: a, to_user_id: b, amount: '3.00' } });
    assert.equal(hold.status, 201, JSON.stringify(hold.body));
    assert.equal((await reconcileBalances(h.db)).ok, true, 'an active hold reconciles');
    await h.db('users').where({ user_id: a }).increment('held_minor', 2);

    const report = await reconcileBalances(h.db);
    assert.equal(report.mismatch_count, 1);
    assert.deepEqual(report.mismatches, [{ kind: 'held', user_id: a, held: '3.02', holds: '3.00' }]);
    assert.equal(report.holds_checked, 1);
  });

  test('a transfer whose legs were tampered with is reported (append-only trigger disabled to do it)', async () => {
    const [a, , c] = await writeBooks();
    const transferId = await transfer(a, c, '1.00');
    const lonely = await transfer(c, a, '2.00');
    // The service's own login could not do this tampering: no UPDATE/DELETE on the ledger, and not
    // the owner, so it cannot disable the trigger either. Only the superuser below can.
    const serviceLogin = createKnex({ url: h.env.DATABASE_URL ?? '', poolMax: 1, applicationName: 'reconcile-test-login' });
    try {
      for (const statement of [
        'ALTER TABLE transactions DISABLE TRIGGER transactions_append_only',
        'UPDATE transactions SET amount_minor = amount_minor + 5',
        'DELETE FROM transactions',
        'TRUNCATE transactions CASCADE',
      ]) {
        await assert.rejects(serviceLogin.raw(statement), { code: '42501' }, statement);
      }
    } finally {
      await serviceLogin.destroy();
    }
    await h.db.raw('ALTER TABLE transactions DISABLE TRIGGER transactions_append_only');
    try {
      await h.db('transactions').where({ transfer_id: transferId, type: 'credit' }).increment('amount_minor', 5);
      // Its money event goes first (the outbox row refers to the ledger row).
      await h.db.raw(
        "DELETE FROM money_events_pending WHERE entry_seq IN (SELECT seq FROM transactions WHERE transfer_id = ? AND type = 'debit')",
        [lonely],
      );
      await h.db('transactions').where({ transfer_id: lonely, type: 'debit' }).delete();
    } finally {
      await h.db.raw('ALTER TABLE transactions ENABLE TRIGGER transactions_append_only');
    }

    const report = await reconcileBalances(h.db);
    assert.equal(report.ok, false);
    const transferProblems = report.mismatches.filter((m) => m.kind === 'transfer');
    assert.deepEqual(transferProblems.map((m) => m.transfer_id).sort(), [lonely, transferId].sort());
    const tampered = transferProblems.find((m) => m.transfer_id === transferId);
    assert.match(tampered?.problem ?? '', /amount or user does not match/);
    const missingLeg = transferProblems.find((m) => m.transfer_id === lonely);
    assert.equal(missingLeg?.debits, 0);
    assert.equal(missingLeg?.credits, 1);
    // The balances no longer match their ledgers either: c's ledger gained 0.05 and lost a debit of 2.00.
    const drifted = report.mismatches.filter((m) => m.kind === 'balance').map((m) => m.user_id);
    assert.deepEqual(drifted, [c]);
    // And c's sequence has a hole where the deleted entry was (entries 3, last_sequence 4).
    const gapped = report.mismatches.filter((m) => m.kind === 'sequence');
    assert.deepEqual(gapped.map((m) => m.user_id), [c]);
    assert.equal(report.mismatch_count, 4);
  });
});

describe('the operators\' listener', () => {
  // These reconcile too, but assert only how the listener answers, never the books: one service
  // for the three is enough.
  before(startOwnService);
  after(() => h.stop());

  test('serves /internal/reconcile on the loopback only; the public port does not know it', async () => {
    assert.equal((h.service.operatorServer.address() as AddressInfo).address, '127.0.0.1');
    assert.equal((h.service.server.address() as AddressInfo).address, '127.0.0.1');
    const publicAnswer = await requestJson<{ code: string }>(`${h.url}/internal/reconcile`);
    assert.equal(publicAnswer.status, 404);
    assert.equal(publicAnswer.body.code, 'not_found');
    const wrongMethod = await requestJson<{ code: string }>(`${reconcileUrl}/internal/reconcile`, { method: 'POST' });
    assert.equal(wrongMethod.status, 405);
  });

  test('one reconciliation at a time on a database: another is 429 reconcile_in_progress', async () => {
    // Another instance (or the CLI) holds the reconciliation lock: the service refuses at once.
    const holder = await h.db.transaction();
    try {
      await holder.raw('SELECT pg_advisory_xact_lock(?)', [RECONCILE_LOCK_KEY]);
      const busy = await requestJson<{ code: string }>(`${reconcileUrl}/internal/reconcile`);
      assert.equal(busy.status, 429);
      assert.match(busy.headers.get('content-type') ?? '', /problem\+json/);
      assert.equal(busy.body.code, 'reconcile_in_progress');
      const cli = await runCli();
      assert.equal(cli.code, 2, 'the CLI exits 2: the check could not run');
      assert.match(cli.stderr, /Another reconciliation is running/);
    } finally {
      await holder.rollback();
    }
    assert.equal((await requestJson(`${reconcileUrl}/internal/reconcile`)).status, 200);
  });

  test('one reconciliation at a time per process: a second request while one runs is 429', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const router = createOperatorRouter({
      reconcile: async () => {
        calls++;
        await gate;
        return reconcileBalances(h.db);
      },
    });
    const server = await listen(createOperatorApp({ logger: createLogger({ service: 'test', level: 'silent' }), router }), 0);
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/internal/reconcile`;
    try {
      const first = requestJson(url);
      await waitUntil(() => calls === 1);
      const second = await requestJson<{ code: string }>(url);
      assert.equal(second.status, 429);
      assert.equal(second.body.code, 'reconcile_in_progress');
      release();
      assert.equal((await first).status, 200);
      assert.equal((await requestJson(url)).status, 200, 'free again once the first is done');
      assert.equal(calls, 2);
    } finally {
      release();
      await closeServer(server);
    }
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(condition());
}
