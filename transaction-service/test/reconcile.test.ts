import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  closeServer,
  createHttpApp,
  createLogger,
  createMetricsRegistry,
  listen,
} from '@wallet/platform';
import { requestJson } from '@wallet/platform/testing';
import { reconcileBalances, type ReconcileReport } from '../src/domain/reconcile-balances';
import { WalletQueries } from '../src/domain/wallet-queries';
import { createWalletRouter } from '../src/entry-points/http/create-wallet-router';
import { startTransactionServiceHarness, type TransactionServiceHarness } from './support/transaction-service-harness';

let h: TransactionServiceHarness;
let reconcileServer: Server;
let reconcileUrl: string;

before(async () => {
  h = await startTransactionServiceHarness();
  // The route as the service mounts it, over this test's database.
  const logger = createLogger({ service: 'reconcile-test', level: 'silent' });
  const metrics = createMetricsRegistry('reconcile-test');
  // Only the reconcile route is exercised here; money moves through the harness's own service.
  const money = { submit: () => Promise.reject(new Error('money is not moved through this router')) };
  const app = createHttpApp({
    logger,
    metrics,
    router: createWalletRouter(
      { money, queries: new WalletQueries(h.db), maxAmountMinor: 100_000_000n },
      { reconcile: () => reconcileBalances(h.db) },
    ),
    readinessChecks: {},
    bodyLimitBytes: 1_024,
  });
  reconcileServer = await listen(app, 0, '127.0.0.1');
  reconcileUrl = `http://127.0.0.1:${(reconcileServer.address() as AddressInfo).port}`;
});

after(async () => {
  await closeServer(reconcileServer);
  await h.stop();
});

async function transfer(from: string, to: string, amount: string): Promise<string> {
  const response = await requestJson(`${h.url}/transfer`, {
    body: { from_user_id: from, to_user_id: to, amount_to_transfer: amount },
  });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return String(response.body.transfer_id);
}

/** Runs the compiled CLI the way `make reconcile` does, against this test's database. */
function runCli(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const entry = join(__dirname, '..', 'src', 'entry-points', 'reconcile.js');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: h.database.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('reconciliation', () => {
  let users: string[];

  test('books written by the API reconcile: every balance equals its ledger', async () => {
    users = await h.createUsers(4);
    const [a, b, c, d] = users as [string, string, string, string];
    await h.fund(a, '100.00');
    await h.fund(b, '50.05');
    // In order: c can only send once it has received.
    for (const [from, to, amount] of [[a, b, '10.01'], [b, c, '20.00'], [a, c, '0.99'], [c, a, '5.00']] as const) {
      await transfer(from, to, amount);
    }

    const report = await reconcileBalances(h.db);
    assert.equal(report.ok, true, JSON.stringify(report.mismatches));
    assert.equal(report.users_checked, 4);
    assert.equal(report.transfers_checked, 4);
    assert.deepEqual(report.mismatches, []);
    // d has no ledger at all and a zero balance: that is consistent, not a mismatch.
    assert.ok(d);

    const http = await requestJson<ReconcileReport>(`${reconcileUrl}/internal/reconcile`);
    assert.equal(http.status, 200);
    assert.equal(http.body.ok, true);
    assert.equal(http.body.users_checked, 4);
    assert.deepEqual(http.body.mismatches, []);

    const cli = await runCli();
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal((JSON.parse(cli.stdout) as ReconcileReport).ok, true);
  });

  test('a balance changed behind the ledger is reported, by the function, the route and the CLI', async () => {
    const [, b] = users as [string, string];
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

    await h.db('users').where({ user_id: b }).decrement('balance_minor', 1);
    assert.equal((await reconcileBalances(h.db)).ok, true);
  });

  test('a transfer whose legs were tampered with is reported (append-only trigger disabled to do it)', async () => {
    const [a, , c] = users as [string, string, string];
    const transferId = await transfer(a, c, '1.00');
    const lonely = await transfer(c, a, '2.00');
    await h.db.raw('ALTER TABLE transactions DISABLE TRIGGER transactions_append_only');
    try {
      await h.db('transactions').where({ transfer_id: transferId, type: 'credit' }).increment('amount_minor', 5);
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
    assert.equal(report.mismatch_count, 3);
  });
});
