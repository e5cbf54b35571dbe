/**
 * Holds through the HTTP API (issue 20, ADR 12): placing, capturing (whole and partial), voiding,
 * expiring, the two balances, every refusal with its code, idempotency, and the ledger rows and
 * reconciliation behind them. Real PostgreSQL; a second service runs with its sweeper off, to show
 * that expiry never waits for the sweeper.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { sleep } from '@wallet/platform';
import { requestJson, startTransactionServiceHarness, type TransactionServiceHarness } from '@wallet/platform/testkit';
import { reconcileBalances } from '../src/domain/reconcile-balances';

let h: TransactionServiceHarness;
/** The same service with its sweeper off: expiry must hold without it. */
let lazy: TransactionServiceHarness;
before(async () => {
  [h, lazy] = await Promise.all([startTransactionServiceHarness(), startTransactionServiceHarness({ HOLD_SWEEP_INTERVAL_MS: '0' })]);
});
after(async () => {
  await Promise.all([h.stop(), lazy.stop()]);
});

type Body = Record<string, unknown>;
const post = (on: TransactionServiceHarness, path: string, body: unknown, key?: string) =>
  requestJson<Body>(`${on.url}${path}`, { body, headers: key === undefined ? {} : { 'Idempotency-Key': key } });
const get = (on: TransactionServiceHarness, path: string) => requestJson<Body>(`${on.url}${path}`);

async function balances(on: TransactionServiceHarness, userId: string): Promise<{ balance: string; available: string }> {
  const response = await get(on, `/users/${userId}/balance`);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return { balance: String(response.body.balance), available: String(response.body.available_balance) };
}

function assertProblem(response: { status: number; headers: Headers; body: unknown }, status: number, code: string): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal((response.body as Body).code, code);
}

/** Two users, the first funded with `amount`. */
async function pair(on: TransactionServiceHarness, amount = '100.00'): Promise<[string, string]> {
  const [from, to] = (await on.createUsers(2)) as [string, string];
  await on.fund(from, amount);
  return [from, to];
}

async function hold(on: TransactionServiceHarness, from: string, to: string, amount: string, extra: Body = {}): Promise<Body> {
  const response = await post(on, '/holds', { from_user_id: from, to_user_id: to, amount, ...extra }, `hold-${randomUUID()}`);
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body;
}

async function assertReconciled(on: TransactionServiceHarness): Promise<void> {
  const report = await reconcileBalances(on.db);
  assert.deepEqual(report.mismatches, []);
  assert.equal(report.ok, true);
}

describe('placing a hold', () => {
  test('reserves the amount: available falls, balance does not, and the answer says so', async () => {
    const [from, to] = await pair(h);
    const placed = await hold(h, from, to, '30.25', { expires_in_seconds: 3600 });
    assert.equal(placed.status, 'held');
    assert.equal(placed.amount, '30.25');
    assert.equal(placed.from_user_id, from);
    assert.equal(placed.to_user_id, to);
    assert.equal(placed.captured_amount, null);
    assert.equal(placed.transfer_id, null);
    assert.equal(placed.available_balance, '69.75');
    const lifetime = Date.parse(String(placed.expires_at)) - Date.parse(String(placed.created_at));
    assert.equal(lifetime, 3_600_000);
    assert.deepEqual(await balances(h, from), { balance: '100.00', available: '69.75' });
    assert.deepEqual(await balances(h, to), { balance: '0.00', available: '0.00' }, 'an incoming hold raises nothing');
    const shown = await get(h, `/holds/${String(placed.hold_id)}`);
    assert.equal(shown.status, 200);
    const { available_balance: _, ...asPlaced } = placed;
    assert.deepEqual(shown.body, asPlaced);
  });

  test('expires in 7 days unless told otherwise', async () => {
    const [from, to] = await pair(h);
    const placed = await hold(h, from, to, '1.00');
    assert.equal(Date.parse(String(placed.expires_at)) - Date.parse(String(placed.created_at)), 604_800_000);
  });

  test('is refused beyond the AVAILABLE balance, and so is a transfer', async () => {
    const [from, to] = await pair(h, '50.00');
    await hold(h, from, to, '40.00');
    assertProblem(await post(h, '/holds', { from_user_id: from, to_user_id: to, amount: '10.01' }), 422, 'insufficient_funds');
    assertProblem(await post(h, '/transfer', { from_user_id: from, to_user_id: to, amount_to_transfer: '10.01' }), 422, 'insufficient_funds');
    const transfer = await post(h, '/transfer', { from_user_id: from, to_user_id: to, amount_to_transfer: '10.00' });
    assert.equal(transfer.status, 201);
    assert.equal(transfer.body.updated_balance, '40.00');
    assert.equal(transfer.body.available_balance, '0.00');
    assert.deepEqual(await balances(h, from), { balance: '40.00', available: '0.00' });
  });

  test('refuses bad input with 400 and unknown users with 404, changing nothing', async () => {
    const [from, to] = await pair(h);
    const cases: Array<[Body, number, string]> = [
      [{ from_user_id: from, to_user_id: from, amount: '1.00' }, 400, 'self_transfer'],
      [{ from_user_id: from, to_user_id: to, amount: '0.00' }, 400, 'invalid_amount'],
      [{ from_user_id: from, to_user_id: to, amount: '1.001' }, 400, 'invalid_amount'],
      [{ from_user_id: from, to_user_id: to, amount: '1.00', expires_in_seconds: 0 }, 400, 'validation_failed'],
      [{ from_user_id: from, to_user_id: to, amount: '1.00', expires_in_seconds: 2_592_001 }, 400, 'validation_failed'],
      [{ from_user_id: from, to_user_id: to, amount: '1.00', expires_in_seconds: '60' }, 400, 'validation_failed'],
      [{ from_user_id: from, to_user_id: to, amount: '1.00', expires_in_seconds: 1.5 }, 400, 'validation_failed'],
      [{ from_user_id: from, to_user_id: to }, 400, 'validation_failed'],
      [{ from_user_id: randomUUID(), to_user_id: to, amount: '1.00' }, 404, 'user_not_found'],
      [{ from_user_id: from, to_user_id: randomUUID(), amount: '1.00' }, 404, 'user_not_found'],
    ];
    for (const [body, status, code] of cases) assertProblem(await post(h, '/holds', body), status, code);
    assert.equal((await post(h, '/holds', { from_user_id: from, to_user_id: to, amount: '1.00', expires_in_seconds: 2_592_000 })).status, 201);
    assert.deepEqual(await balances(h, from), { balance: '100.00', available: '99.00' });
  });
});

describe('capturing a hold', () => {
  test('the whole hold moves the money as a transfer, with both ledger legs and no release', async () => {
    const [from, to] = await pair(h);
    const placed = await hold(h, from, to, '25.00');
    const captured = await post(h, `/holds/${String(placed.hold_id)}/capture`, {}, `cap-${randomUUID()}`);
    assert.equal(captured.status, 200, JSON.stringify(captured.body));
    assert.equal(captured.body.status, 'captured');
    assert.equal(captured.body.captured_amount, '25.00');
    assert.match(String(captured.body.transfer_id), /^[0-9a-f-]{36}$/);
    assert.equal(captured.body.available_balance, '75.00');
    assert.deepEqual(await balances(h, from), { balance: '75.00', available: '75.00' });
    assert.deepEqual(await balances(h, to), { balance: '25.00', available: '25.00' });
    const legs = await h.db('transactions').where({ hold_id: placed.hold_id }).orderBy('seq').select('type', 'user_id', 'amount_minor');
    assert.deepEqual(
      legs.map((l: Body) => [l.type, l.user_id, String(l.amount_minor)]),
      [
        ['hold', from, '2500'],
        ['debit', from, '2500'],
        ['credit', to, '2500'],
      ],
    );
    const history = await get(h, `/users/${to}/transactions`);
    assert.equal((history.body.items as Body[])[0]?.transfer_id, captured.body.transfer_id);
    await assertReconciled(h);
  });

  test('a part captures that part and releases the rest, once', async () => {
    const [from, to] = await pair(h);
    const placed = await hold(h, from, to, '40.00');
    const id = String(placed.hold_id);
    const captured = await post(h, `/holds/${id}/capture`, { amount: '15.50' }, `cap-${randomUUID()}`);
    assert.equal(captured.status, 200);
    assert.equal(captured.body.captured_amount, '15.50');
    assert.equal(captured.body.amount, '40.00');
    assert.deepEqual(await balances(h, from), { balance: '84.50', available: '84.50' });
    assert.deepEqual(await balances(h, to), { balance: '15.50', available: '15.50' });
    assertProblem(await post(h, `/holds/${id}/capture`, { amount: '1.00' }, `cap-${randomUUID()}`), 409, 'hold_already_captured');
    assertProblem(await post(h, `/holds/${id}/void`, {}, `void-${randomUUID()}`), 409, 'hold_already_captured');
    const release = (await h.db('transactions').where({ hold_id: id, type: 'release' }).first()) as Body;
    assert.equal(String(release.amount_minor), '2450');
    await assertReconciled(h);
  });

  test('refuses more than the hold, an unknown hold and a malformed id', async () => {
    const [from, to] = await pair(h);
    const placed = await hold(h, from, to, '10.00');
    assertProblem(await post(h, `/holds/${String(placed.hold_id)}/capture`, { amount: '10.01' }), 422, 'capture_exceeds_hold');
    assertProblem(await post(h, `/holds/${randomUUID()}/capture`, {}), 404, 'hold_not_found');
    assertProblem(await post(h, '/holds/not-a-uuid/capture', {}), 400, 'validation_failed');
    assertProblem(await get(h, `/holds/${randomUUID()}`), 404, 'hold_not_found');
    assert.deepEqual(await balances(h, from), { balance: '100.00', available: '90.00' });
  });

  test('a key replays its answer; the same key with another request is 422', async () => {
    const [from, to] = await pair(h);
    const placed = await hold(h, from, to, '10.00');
    const key = `cap-${randomUUID()}`;
    const first = await post(h, `/holds/${String(placed.hold_id)}/capture`, { amount: '4.00' }, key);
    const again = await post(h, `/holds/${String(placed.hold_id)}/capture`, { amount: '4.00' }, key);
    assert.equal(again.status, 200);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(again.body, first.body);
    assertProblem(await post(h, `/holds/${String(placed.hold_id)}/capture`, { amount: '5.00' }, key), 422, 'idempotency_key_reused');
    assert.deepEqual(await balances(h, to), { balance: '4.00', available: '4.00' });
  });
});

describe('voiding a hold', () => {
  test('releases it; voiding again is 409 with a new key and the stored 200 with the same key', async () => {
    const [from, to] = await pair(h);
    const placed = await hold(h, from, to, '60.00');
    const id = String(placed.hold_id);
    const key = `void-${randomUUID()}`;
    const voided = await post(h, `/holds/${id}/void`, {}, key);
    assert.equal(voided.status, 200);
    assert.equal(voided.body.status, 'voided');
    assert.equal(voided.body.available_balance, '100.00');
    assert.deepEqual(await balances(h, from), { balance: '100.00', available: '100.00' });
    const replay = await post(h, `/holds/${id}/void`, {}, key);
    assert.equal(replay.status, 200);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(replay.body, voided.body);
    assertProblem(await post(h, `/holds/${id}/void`, {}, `void-${randomUUID()}`), 409, 'hold_already_voided');
    assertProblem(await post(h, `/holds/${id}/capture`, {}, `cap-${randomUUID()}`), 409, 'hold_already_voided');
    assert.equal((await get(h, `/holds/${id}`)).body.status, 'voided');
    await assertReconciled(h);
  });
});

describe('expiry', () => {
  test('without any sweeper: shown expired, refused at capture and void, and its money spendable at once', async () => {
    const [from, to] = await pair(lazy, '20.00');
    const placed = await hold(lazy, from, to, '20.00', { expires_in_seconds: 1 });
    const id = String(placed.hold_id);
    assert.deepEqual(await balances(lazy, from), { balance: '20.00', available: '0.00' });
    await sleep(Math.max(0, Date.parse(String(placed.expires_at)) - Date.now()) + 50);
    assert.equal((await get(lazy, `/holds/${id}`)).body.status, 'expired');
    assert.deepEqual(await balances(lazy, from), { balance: '20.00', available: '20.00' }, 'reads subtract only active holds');
    assert.equal(((await lazy.db('holds').where({ hold_id: id }).first()) as Body).status, 'held', 'nothing released it yet');
    assertProblem(await post(lazy, `/holds/${id}/capture`, {}, `cap-${randomUUID()}`), 409, 'hold_expired');
    assertProblem(await post(lazy, `/holds/${id}/void`, {}, `void-${randomUUID()}`), 409, 'hold_expired');
    const spent = await post(lazy, '/transfer', { from_user_id: from, to_user_id: to, amount_to_transfer: '20.00' });
    assert.equal(spent.status, 201, JSON.stringify(spent.body));
    const row = (await lazy.db('holds').where({ hold_id: id }).first()) as Body;
    assert.equal(row.status, 'expired');
    assert.ok(new Date(row.resolved_at as Date).getTime() >= new Date(row.expires_at as Date).getTime());
    await assertReconciled(lazy);
  });

  test('the sweeper releases an expired hold within moments, with its event row', async () => {
    const [from, to] = await pair(h, '5.00');
    const placed = await hold(h, from, to, '5.00', { expires_in_seconds: 1 });
    const id = String(placed.hold_id);
    const expiresAt = Date.parse(String(placed.expires_at));
    let released: Body | undefined;
    for (let i = 0; i < 100 && !released; i += 1) {
      await sleep(50);
      released = (await h.db('transactions').where({ hold_id: id, type: 'release' }).first()) as Body | undefined;
    }
    assert.ok(released, 'released within 5 s');
    assert.ok(Date.now() - expiresAt < 5_000);
    assert.equal(String(released.available_after_minor), '500');
    assert.ok(await h.db('money_events_pending').where({ entry_seq: released.seq }).first(), 'its money event waits in the outbox');
    assert.deepEqual(await balances(h, from), { balance: '5.00', available: '5.00' });
  });
});

describe('listing holds', () => {
  test("a user's holds as sender, newest first, by status, paged", async () => {
    const [from, to] = await pair(h);
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push(String((await hold(h, from, to, '1.00')).hold_id));
    await post(h, `/holds/${ids[0]!}/void`, {}, `void-${randomUUID()}`);
    await post(h, `/holds/${ids[1]!}/capture`, {}, `cap-${randomUUID()}`);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page += 1) {
      const response = await get(h, `/users/${from}/holds?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(response.status, 200);
      seen.push(...(response.body.items as Body[]).map((item) => String(item.hold_id)));
      cursor = response.body.next_cursor as string | null;
      if (cursor === null) break;
    }
    assert.deepEqual(seen, [...ids].reverse());
    const held = await get(h, `/users/${from}/holds?status=held`);
    assert.deepEqual((held.body.items as Body[]).map((item) => item.hold_id), ids.slice(2).reverse());
    const voided = await get(h, `/users/${from}/holds?status=voided`);
    assert.deepEqual((voided.body.items as Body[]).map((item) => item.hold_id), [ids[0]]);
    assert.deepEqual((await get(h, `/users/${to}/holds`)).body.items, [], 'only holds as sender');
    assertProblem(await get(h, `/users/${from}/holds?status=pending`), 400, 'validation_failed');
    assertProblem(await get(h, `/users/${from}/holds?cursor=bm9wZQ`), 400, 'validation_failed');
  });
});

describe('ledger and events', () => {
  test('every hold change takes the next number in the sender\'s sequence, with the available balance after it', async () => {
    const [from, to] = await pair(h);
    const a = await hold(h, from, to, '10.00');
    await hold(h, from, to, '5.00');
    await post(h, `/holds/${String(a.hold_id)}/capture`, { amount: '4.00' }, `cap-${randomUUID()}`);
    const rows = await h.db('transactions').where({ user_id: from }).orderBy('sequence').select('sequence', 'type', 'amount_minor', 'balance_after_minor', 'available_after_minor');
    assert.deepEqual(
      rows.map((r: Body) => [String(r.sequence), r.type, String(r.amount_minor), String(r.balance_after_minor), String(r.available_after_minor)]),
      [
        ['1', 'credit', '10000', '10000', '10000'],
        ['2', 'hold', '1000', '10000', '9000'],
        ['3', 'hold', '500', '10000', '8500'],
        ['4', 'debit', '400', '9600', '8500'],
        ['5', 'release', '600', '9600', '9100'],
      ],
    );
    const pending = await h.db('money_events_pending').join('transactions', 'transactions.seq', 'money_events_pending.entry_seq').where({ user_id: from }).count<{ count: string }[]>('* as count');
    assert.equal(Number(pending[0]?.count), 5, 'one money event per entry');
  });
});
