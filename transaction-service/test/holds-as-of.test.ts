/**
 * REVIEW2: the available balance at an instant around a capture. Before the capture: balance 100,
 * held 60 -> available 40. After a full capture: balance 40, held 0 -> available 40. No instant may
 * show anything else. The hold's resolved_at is the DATABASE clock read in lockHolds; the capture's
 * ledger rows carry the APP clock read later (ledgerClock): findBalanceAt mixes the two.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { requestJson, startTransactionServiceHarness, type TransactionServiceHarness } from '@wallet/platform/testkit';
import { sleep } from '@wallet/platform';

let h: TransactionServiceHarness;
before(async () => {
  h = await startTransactionServiceHarness({ HOLD_SWEEP_INTERVAL_MS: '0' });
});
after(async () => {
  await h?.stop();
});

test('as_of around a capture: the available balance is 40.00 at every instant', async () => {
  const wrong: string[] = [];
  for (let round = 0; round < 8; round += 1) {
    const [a, b] = (await h.createUsers(2)) as [string, string];
    await h.fund(a, '100.00');
    const hold = await requestJson<{ hold_id: string }>(`${h.url}/holds`, { body: { from_user_id: a, to_user_id: b, amount: '60.00' } });
    await sleep(5);
    const captured = await requestJson(`${h.url}/holds/${hold.body.hold_id}/capture`, { body: {} });
    assert.equal(captured.status, 200);
    const row = (
      await h.db.raw<{ rows: Array<{ resolved_us: string; leg_us: string }> }>(
        `SELECT (extract(epoch FROM h.resolved_at) * 1000000)::bigint::text AS resolved_us,
                (SELECT (extract(epoch FROM t.created_at) * 1000000)::bigint::text FROM transactions t
                  WHERE t.hold_id = h.hold_id AND t.type = 'debit') AS leg_us
           FROM holds h WHERE h.hold_id = ?`,
        [hold.body.hold_id],
      )
    ).rows[0]!;
    const resolvedMs = Math.floor(Number(row.resolved_us) / 1000);
    const legMs = Math.floor(Number(row.leg_us) / 1000);
    await sleep(1_100); // as_of must be settled in the past
    for (let ms = Math.min(resolvedMs, legMs) - 1; ms <= Math.max(resolvedMs, legMs) + 1; ms += 1) {
      const asOf = new Date(ms).toISOString();
      const read = await requestJson<{ balance: string; available_balance: string }>(`${h.url}/users/${a}/balance?as_of=${asOf}`);
      if (read.body.available_balance !== '40.00') {
        wrong.push(`round ${round}: as_of ${asOf} balance ${read.body.balance} available ${read.body.available_balance} (resolved_at us ${row.resolved_us}, leg us ${row.leg_us})`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});
