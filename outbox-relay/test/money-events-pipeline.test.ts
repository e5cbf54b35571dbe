/**
 * Money events end to end (ADR 10), as a downstream consumer checks them: transfers through the
 * API, two relays publishing, a replay repeating one user's events; the test kit's
 * checkMoneyEvents then reads the topic as money-events-reader and compares it with the ledger.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkMoneyEvents, countRows, createUsers, type Pipeline, requestJson, runTransferLoad, startPipeline, waitFor, waitForUsersInTransactionService } from '@wallet/platform/testkit';
import { runReplayCli } from '../src/entry-points/replay-outbox';

let p: Pipeline;

before(async () => {
  p = await startPipeline();
  await p.startRelay();
});
after(async () => {
  await p.stop();
});

describe('money events: ledger -> money outbox -> relay -> Kafka -> money-events-reader', () => {
  test('every ledger entry once (repeats dropped by id), in order, gapless, chaining to the balance, valid', async (t) => {
    const userIds = await createUsers(p.users.url, 6, 'money-events');
    await waitForUsersInTransactionService(p.tx.db, userIds);
    for (const userId of userIds) {
      const funded = await requestJson(`${p.tx.url}/add-money`, { body: { user_id: userId, amount: '100.00' } });
      assert.equal(funded.status, 200, JSON.stringify(funded.body));
    }
    // A second relay during the transfers: it must not let one user's events overtake each other.
    const second = await p.startRelay();
    const load = await runTransferLoad({
      txUrl: p.tx.url,
      userIds,
      transfers: 300,
      concurrency: 20,
      hotPairShare: 0.3,
      duplicateShare: 0.1,
      invalidShare: 0,
      maxAmountMinor: 500n,
    });
    await second.stop();
    assert.deepEqual(load.violations, []);

    // At least once: a replay publishes the first user's events again, identical.
    const replayEnv = { ...p.relayEnv, LOG_LEVEL: 'silent' };
    const code = await runReplayCli(['--user-id', userIds[0]!], replayEnv, { out: () => undefined, err: () => undefined }, 'money-events');
    assert.equal(code, 0);
    const firstUserEntries = await countRows(p.tx.db, 'transactions', (q) => void q.where({ user_id: userIds[0] }));
    // Published (the money outbox empty), so the check below sees the repeats too.
    await waitFor(async () => ((await countRows(p.tx.db, 'money_events_pending')) === 0 ? true : undefined), { timeoutMs: 20_000, what: 'the replay published' });

    const check = await checkMoneyEvents({ topic: p.moneyEventsTopic, txUrl: p.tx.url, userIds, timeoutMs: 30_000 });
    t.diagnostic(check.detail);
    assert.ok(check.ok, check.detail);
    assert.equal(check.verdict.distinct, userIds.length + 2 * load.acknowledged.size);
    assert.ok(check.verdict.duplicates >= firstUserEntries, `${check.verdict.duplicates} repeats, ${firstUserEntries} replayed`);
  });
});
