/**
 * A reviewer's repro, kept as a regression check: an atomic batch was once applied IN PART when one
 * of its members carried the same Idempotency-Key as a single request queued just before it in the
 * same engine batch, and that single request's user row was held elsewhere (skip-locked mode).
 *
 * The copy member is not "running" (its leader is the single request), so lockUsers' heldGroups
 * did not look at it; the leader was set aside, the copy answered setAside, the rest of the group
 * was decided and COMMITTED, and the response said 422 atomic_batch_refused "none was applied".
 * Groups are now set aside whole, copies included (a fixpoint), and a group set aside is a 503.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { requestJson, startTransactionServiceHarness, type TransactionServiceHarness, whileRowLocked } from '@wallet/platform/testkit';
import { sleep } from '@wallet/platform';

let h: TransactionServiceHarness;
before(async () => {
  h = await startTransactionServiceHarness({ MONEY_BATCHES_IN_FLIGHT: '1', MONEY_LOCK_TIMEOUT_MS: '1000', MONEY_LOCK_RETRIES: '1', HOLD_SWEEP_INTERVAL_MS: '0' });
});
after(async () => {
  await h?.stop();
});

test('an atomic batch is all or nothing even when a member shares its key with a concurrent single request on a held row', async () => {
  const [a, b, c, d] = (await h.createUsers(4)) as [string, string, string, string];
  await h.fund(a, '100.00');
  await h.fund(c, '100.00');

  await whileRowLocked(h.db, a, async () => {
    // 1. Occupies the only batch slot for lock_timeout (wait mode), and teaches the engine that a is held.
    const blocker = requestJson(`${h.url}/add-money`, { body: { user_id: a, amount: '1.00' }, timeoutMs: 60_000 });
    await sleep(200);
    // 2. While it waits, a single keyed transfer on a, then an atomic batch carrying the same key and request.
    const key = `shared-${randomUUID()}`;
    const single = requestJson(`${h.url}/transfer`, {
      body: { from_user_id: a, to_user_id: b, amount_to_transfer: '1.00' },
      headers: { 'Idempotency-Key': key },
      timeoutMs: 60_000,
    });
    await sleep(100);
    const atomic = requestJson<{ code?: string; results: Array<{ status: number; body: Record<string, unknown> }> }>(`${h.url}/batch`, {
      body: {
        atomic: true,
        operations: [
          { op: 'transfer', from_user_id: c, to_user_id: d, amount_to_transfer: '30.00' },
          { op: 'transfer', idempotency_key: key, from_user_id: a, to_user_id: b, amount_to_transfer: '1.00' },
        ],
      },
      timeoutMs: 60_000,
    });
    const answered = await atomic;
    const cBalance = (await h.db("users").where({ user_id: c }).first<{ balance_minor: string }>("balance_minor"))?.balance_minor;
    await Promise.allSettled([blocker, single]);
    if (answered.status === 200) {
      // Applied: must have been applied in ONE transaction (same created_at for every row).
      const times = await h.db('transactions').whereIn('user_id', [c, b]).where('kind', 'transfer').distinct('created_at');
      assert.equal(times.length, 1, 'an atomic batch must be one transaction; its members committed at different times');
    } else {
      // Turned away with its held member (a passing reason): a 503 to send again whole, nothing applied.
      assert.equal(answered.status, 503, JSON.stringify(answered.body));
      assert.equal(answered.body.code, 'service_unavailable');
      assert.equal(cBalance, '10000', 'not applied, but c -> d 30.00 was committed');
    }
  });
});
