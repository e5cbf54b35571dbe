import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { installParkingTrigger, metricValue, parseCents, requestJson, scrapeMetrics, startTransactionServiceHarness, type TransactionServiceHarness, waitFor } from '@wallet/platform/testkit';
import { purgeExpiredIdempotencyKeys } from '../src/data-access/idempotency-repository';

let h: TransactionServiceHarness;
before(async () => {
  // The expired-hold sweeper queries on the service's pool every 200 ms; this file counts that pool's
  // connections exactly (the /metrics test), and places no hold, so it runs without the sweeper.
  h = await startTransactionServiceHarness({ HOLD_SWEEP_INTERVAL_MS: '0' });
});
after(async () => {
  await h.stop();
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  requestJson(`${h.url}${path}`, { body, headers });

async function ledgerCount(): Promise<number> {
  const row = (await h.db('transactions').count<{ count: string }[]>('* as count'))[0];
  return Number(row?.count);
}

async function balanceOf(userId: string): Promise<string> {
  const response = await requestJson<{ balance: string }>(`${h.url}/users/${userId}/balance`);
  assert.equal(response.status, 200);
  return response.body.balance;
}

function assertProblem(response: { status: number; headers: Headers; body: unknown }, status: number, code: string): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const body = response.body as Record<string, unknown>;
  assert.equal(body.code, code);
  assert.equal(body.status, status);
  for (const field of ['type', 'title', 'detail']) assert.equal(typeof body[field], 'string');
  assert.doesNotMatch(JSON.stringify(body), /at .*\.js:\d+/); // never a stack trace
}

describe('add money', () => {
  test('credits exactly and answers decimal strings', async () => {
    const [user] = await h.createUsers(1);
    const first = await post('/add-money', { user_id: user, amount: '10.10' });
    assert.equal(first.status, 200);
    assert.equal(first.body.user_id, user);
    assert.equal(first.body.amount, '10.10');
    assert.equal(first.body.updated_balance, '10.10');
    assert.match(String(first.body.transaction_id), /^[0-9a-f-]{36}$/);
    const second = await post('/add-money', { user_id: user, amount: 0.2 });
    assert.equal(second.body.updated_balance, '10.30'); // 10.1 + 0.2 in floating point is 10.299999999999999
    assert.equal(await balanceOf(user!), '10.30');
  });

  test('unknown user is 404 and moves nothing', async () => {
    const before = await ledgerCount();
    assertProblem(await post('/add-money', { user_id: randomUUID(), amount: '1.00' }), 404, 'user_not_found');
    assert.equal(await ledgerCount(), before);
  });

  test('a user who arrives while the credit runs is credited, not refused for the balance limit', async () => {
    // The credit's batch has begun (its key is claimed) when the user commits; the balance must be
    // decided from what the row lock then sees, not from an earlier read. A statement-level
    // trigger parks the batch after its key claim, before it locks the users, on an advisory lock
    // the test holds, so the interleaving is forced rather than hoped for.
    const park = await installParkingTrigger(h.db, { name: 'park_credit', on: 'AFTER INSERT ON idempotency_keys FOR EACH STATEMENT', key: 4242 });
    const userId = uuidv7();
    try {
      const pending = post('/add-money', { user_id: userId, amount: '5.00' }, { 'Idempotency-Key': `arrive-${userId}` });
      await park.waitUntilParked('the credit to wait at the trigger');
      await h.db('users').insert({ user_id: userId, created_at: new Date() }); // user-created arrives
      await park.release();
      const response = await pending;
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.equal(response.body.updated_balance, '5.00');
      assert.equal(await balanceOf(userId), '5.00');
    } finally {
      await park.remove();
    }
  });
});

describe('transfer', () => {
  test('moves money, answers 201 with the sender balance, writes two ledger legs', async () => {
    const [a, b] = await h.createUsers(2);
    await h.fund(a!, '100.00');
    const response = await post('/transfer', { from_user_id: a, to_user_id: b, amount_to_transfer: '30.25' });
    assert.equal(response.status, 201);
    assert.equal(response.body.from_user_id, a);
    assert.equal(response.body.to_user_id, b);
    assert.equal(response.body.amount, '30.25');
    assert.equal(response.body.updated_balance, '69.75');
    assert.ok(!Number.isNaN(Date.parse(String(response.body.created_at))));
    assert.equal(await balanceOf(a!), '69.75');
    assert.equal(await balanceOf(b!), '30.25');
    const legs = await h.db('transactions').where({ transfer_id: response.body.transfer_id }).orderBy('type');
    assert.deepEqual(
      legs.map((l: { type: string; user_id: string; balance_after_minor: string }) => [l.type, l.user_id, l.balance_after_minor]),
      [
        ['credit', b, '3025'],
        ['debit', a, '6975'],
      ],
    );
  });

  test('overdraft is 422 insufficient_funds and moves nothing', async () => {
    const [a, b] = await h.createUsers(2);
    await h.fund(a!, '5.00');
    const before = await ledgerCount();
    assertProblem(await post('/transfer', { from_user_id: a, to_user_id: b, amount_to_transfer: '5.01' }), 422, 'insufficient_funds');
    assert.equal(await ledgerCount(), before);
    assert.equal(await balanceOf(a!), '5.00');
    // Exactly the whole balance is allowed, leaving 0.00.
    const all = await post('/transfer', { from_user_id: a, to_user_id: b, amount_to_transfer: '5.00' });
    assert.equal(all.status, 201);
    assert.equal(all.body.updated_balance, '0.00');
  });

  test('unknown sender or receiver is 404; self-transfer is 400', async () => {
    const [a] = await h.createUsers(1);
    await h.fund(a!, '5.00');
    assertProblem(await post('/transfer', { from_user_id: randomUUID(), to_user_id: a, amount_to_transfer: '1' }), 404, 'user_not_found');
    assertProblem(await post('/transfer', { from_user_id: a, to_user_id: randomUUID(), amount_to_transfer: '1' }), 404, 'user_not_found');
    assertProblem(await post('/transfer', { from_user_id: a, to_user_id: a, amount_to_transfer: '1' }), 400, 'self_transfer');
    assertProblem(
      await post('/transfer', { from_user_id: a, to_user_id: a!.toUpperCase(), amount_to_transfer: '1' }),
      400,
      'self_transfer',
    );
    assert.equal(await balanceOf(a!), '5.00');
  });
});

describe('bad input changes nothing', () => {
  let a: string;
  let b: string;
  before(async () => {
    [a, b] = (await h.createUsers(2)) as [string, string];
    await h.fund(a, '50.00');
  });

  const badAmounts: unknown[] = ['0.001', '0', 0, -1, '-1.00', '+1.00', '1e2', 1e21, '', ' 1.00', 'abc', null, true, [], {}, '1000000000.01', 1000000000.01, '1.005'];
  for (const amount of badAmounts) {
    test(`transfer amount ${JSON.stringify(amount)} -> 400 invalid_amount`, async () => {
      const before = await ledgerCount();
      assertProblem(await post('/transfer', { from_user_id: a, to_user_id: b, amount_to_transfer: amount }), 400, 'invalid_amount');
      assertProblem(await post('/add-money', { user_id: a, amount }), 400, 'invalid_amount');
      assert.equal(await ledgerCount(), before);
    });
  }

  test('missing or malformed fields -> 400 validation_failed', async () => {
    const before = await ledgerCount();
    assertProblem(await post('/transfer', { to_user_id: b, amount_to_transfer: '1' }), 400, 'validation_failed');
    assertProblem(await post('/transfer', { from_user_id: 'nope', to_user_id: b, amount_to_transfer: '1' }), 400, 'validation_failed');
    assertProblem(await post('/transfer', { from_user_id: a, to_user_id: b, amount_to_transfer: '1', extra: 1 }), 400, 'validation_failed');
    assertProblem(await post('/add-money', { user_id: a }), 400, 'validation_failed');
    assertProblem(await post('/add-money', [a, '1.00']), 400, 'validation_failed');
    assertProblem(await post('/add-money', {}), 400, 'validation_failed');
    assert.equal(await ledgerCount(), before);
  });

  test('malformed JSON, wrong content type, scalar JSON, 2 MB body', async () => {
    const before = await ledgerCount();
    assertProblem(
      await requestJson(`${h.url}/transfer`, { method: 'POST', rawBody: '{"from_user_id": ', headers: { 'content-type': 'application/json' } }),
      400,
      'malformed_json',
    );
    assertProblem(
      await requestJson(`${h.url}/transfer`, { method: 'POST', rawBody: '"1.00"', headers: { 'content-type': 'application/json' } }),
      400,
      'malformed_json',
    );
    assertProblem(
      await requestJson(`${h.url}/add-money`, {
        method: 'POST',
        rawBody: JSON.stringify({ user_id: a, amount: '1.00' }),
        headers: { 'content-type': 'text/plain' },
      }),
      415,
      'unsupported_media_type',
    );
    assertProblem(
      await requestJson(`${h.url}/add-money`, { method: 'POST', rawBody: `user_id=${a}&amount=1.00`, headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
      415,
      'unsupported_media_type',
    );
    const huge = JSON.stringify({ user_id: a, amount: '1.00', padding: 'x'.repeat(2 * 1024 * 1024) });
    assertProblem(
      await requestJson(`${h.url}/add-money`, { method: 'POST', rawBody: huge, headers: { 'content-type': 'application/json' } }),
      413,
      'payload_too_large',
    );
    assert.equal(await ledgerCount(), before);
    assert.equal(await balanceOf(a), '50.00');
  });

  test('a JSON-number amount is judged by the literal sent, never by the double it parses to', async () => {
    const raw = (literal: string) =>
      requestJson(`${h.url}/transfer`, {
        rawBody: `{"from_user_id":"${a}","to_user_id":"${b}","amount_to_transfer":${literal}}`,
        headers: { 'content-type': 'application/json' },
      });
    // JSON.parse would make these 100, 10, 12.5, 12.5 and 0.01: each is refused like its string.
    for (const literal of ['1e2', '1E1', '12.500', '12.5000000000000001', '0.0099999999999999999', '-0']) {
      const before = await ledgerCount();
      assertProblem(await raw(literal), 400, 'invalid_amount');
      assert.equal(await ledgerCount(), before, literal);
    }
    const ok = await raw('0.29'); // 0.29 * 100 is 28.999999999999996 in floating point
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.equal(ok.body.amount, '0.29');
    await post('/transfer', { from_user_id: b, to_user_id: a, amount_to_transfer: '0.29' }); // put it back
  });

  test('a UUID in any but its canonical form is 400, never a 500 or a wrong 404', async () => {
    // Joi's plain guid() takes all of these; PostgreSQL refuses the first three (22P02) and reads
    // the others as a's id, which would not match the rows it returns.
    const noHyphens = a.replace(/-/g, '');
    for (const id of [`[${a}]`, `(${a})`, a.replace(/-/g, ':'), `{${a}}`, noHyphens]) {
      const before = await ledgerCount();
      assertProblem(await post('/add-money', { user_id: id, amount: '1.00' }), 400, 'validation_failed');
      assertProblem(await post('/transfer', { from_user_id: id, to_user_id: b, amount_to_transfer: '1.00' }), 400, 'validation_failed');
      assertProblem(await post('/transfer', { from_user_id: a, to_user_id: id, amount_to_transfer: '1.00' }), 400, 'validation_failed');
      assertProblem(await requestJson(`${h.url}/users/${encodeURIComponent(id)}/balance`), 400, 'validation_failed');
      assertProblem(await requestJson(`${h.url}/users/${encodeURIComponent(id)}/transactions`), 400, 'validation_failed');
      assert.equal(await ledgerCount(), before);
    }
    // Upper case and surrounding spaces are the same id, written canonically.
    const [c] = (await h.createUsers(1)) as [string];
    const upper = await post('/add-money', { user_id: ` ${c.toUpperCase()} `, amount: '1.00' });
    assert.equal(upper.status, 200);
    assert.equal(upper.body.user_id, c);
  });

  test('malformed ids and unknown routes', async () => {
    assertProblem(await requestJson(`${h.url}/users/not-a-uuid/balance`), 400, 'validation_failed');
    assertProblem(await requestJson(`${h.url}/users/${randomUUID()}/balance`), 404, 'user_not_found');
    assertProblem(await requestJson(`${h.url}/users/not-a-uuid/transactions`), 400, 'validation_failed');
    assertProblem(await requestJson(`${h.url}/users/${a}/transactions?limit=0`), 400, 'validation_failed');
    assertProblem(await requestJson(`${h.url}/users/${a}/transactions?limit=101`), 400, 'validation_failed');
    assertProblem(await requestJson(`${h.url}/users/${a}/transactions?cursor=bm9wZQ`), 400, 'validation_failed');
    const tooLarge = Buffer.from('seq:9999999999999999999').toString('base64url'); // beyond BIGINT
    assertProblem(await requestJson(`${h.url}/users/${a}/transactions?cursor=${tooLarge}`), 400, 'validation_failed');
    assertProblem(await requestJson(`${h.url}/nowhere`), 404, 'not_found');
    assertProblem(await requestJson(`${h.url}/transfer`), 405, 'method_not_allowed');
  });
});

describe('idempotency keys', () => {
  test('same key + same payload replays the stored response once applied', async () => {
    const [a, b] = await h.createUsers(2);
    await h.fund(a!, '10.00');
    const body = { from_user_id: a, to_user_id: b, amount_to_transfer: '3.00' };
    const first = await post('/transfer', body, { 'Idempotency-Key': 'order-1' });
    assert.equal(first.status, 201);
    assert.equal(first.headers.get('idempotent-replayed'), null);
    // The same payload written differently (a number, other field order) is the same request.
    const again = await post('/transfer', { amount_to_transfer: 3, to_user_id: b, from_user_id: a }, { 'Idempotency-Key': 'order-1' });
    assert.equal(again.status, 201);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(again.body, first.body);
    assert.equal(await balanceOf(a!), '7.00');
    // A quoted structured-field string names the same key.
    const quoted = await post('/transfer', body, { 'Idempotency-Key': '"order-1"' });
    assert.equal(quoted.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(quoted.body, first.body);
  });

  test('same key + different payload -> 422 idempotency_key_reused, nothing moves', async () => {
    const [a, b] = await h.createUsers(2);
    await h.fund(a!, '10.00');
    await post('/transfer', { from_user_id: a, to_user_id: b, amount_to_transfer: '1.00' }, { 'Idempotency-Key': 'k-reuse' });
    const reused = await post('/transfer', { from_user_id: a, to_user_id: b, amount_to_transfer: '2.00' }, { 'Idempotency-Key': 'k-reuse' });
    assertProblem(reused, 422, 'idempotency_key_reused');
    assert.equal(await balanceOf(a!), '9.00');
  });

  test('keys are scoped per endpoint', async () => {
    const [a, b] = await h.createUsers(2);
    const credit = await post('/add-money', { user_id: a, amount: '4.00' }, { 'Idempotency-Key': 'shared-key' });
    assert.equal(credit.status, 200);
    const transfer = await post('/transfer', { from_user_id: a, to_user_id: b, amount_to_transfer: '4.00' }, { 'Idempotency-Key': 'shared-key' });
    assert.equal(transfer.status, 201);
    assert.equal(transfer.headers.get('idempotent-replayed'), null);
  });

  test('a business error is stored: the outcome never flips on retry', async () => {
    const [a, b] = await h.createUsers(2);
    const body = { from_user_id: a, to_user_id: b, amount_to_transfer: '5.00' };
    const refused = await post('/transfer', body, { 'Idempotency-Key': 'poor-1' });
    assertProblem(refused, 422, 'insufficient_funds');
    await h.fund(a!, '100.00');
    const retried = await post('/transfer', body, { 'Idempotency-Key': 'poor-1' });
    assertProblem(retried, 422, 'insufficient_funds');
    assert.equal(retried.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(retried.body, refused.body);
    assert.equal(await balanceOf(a!), '100.00');
    // A 404 is stored the same way.
    const ghost = { user_id: randomUUID(), amount: '1.00' };
    const missing = await post('/add-money', ghost, { 'Idempotency-Key': 'ghost-1' });
    assertProblem(missing, 404, 'user_not_found');
    assert.equal((await post('/add-money', ghost, { 'Idempotency-Key': 'ghost-1' })).headers.get('idempotent-replayed'), 'true');
  });

  test('50 simultaneous copies of one request execute once', async () => {
    const [a, b] = await h.createUsers(2);
    await h.fund(a!, '100.00');
    const body = { from_user_id: a, to_user_id: b, amount_to_transfer: '1.00' };
    const responses = await Promise.all(Array.from({ length: 50 }, () => post('/transfer', body, { 'Idempotency-Key': 'burst-1' })));
    assert.deepEqual(new Set(responses.map((r) => r.status)), new Set([201]));
    assert.equal(new Set(responses.map((r) => r.body.transfer_id)).size, 1);
    assert.equal(responses.filter((r) => r.headers.get('idempotent-replayed') !== 'true').length, 1);
    assert.equal(await balanceOf(a!), '99.00');
    assert.equal(await balanceOf(b!), '1.00');
  });

  test('malformed keys are 400 and move nothing', async () => {
    const [a] = await h.createUsers(1);
    for (const key of ['', 'has space', '"unterminated', 'x'.repeat(256)]) {
      assertProblem(await post('/add-money', { user_id: a, amount: '1.00' }, { 'Idempotency-Key': key }), 400, 'invalid_idempotency_key');
    }
    assert.equal(await balanceOf(a!), '0.00');
  });

  test('expired keys are purged after their retention', async () => {
    const [a] = await h.createUsers(1);
    await post('/add-money', { user_id: a, amount: '1.00' }, { 'Idempotency-Key': 'old-key' });
    await h.db.raw(`UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE idempotency_key = 'old-key'`);
    assert.ok((await purgeExpiredIdempotencyKeys(h.db, 24)) >= 1);
    assert.equal((await h.db('idempotency_keys').where({ idempotency_key: 'old-key' })).length, 0);
  });
});

describe('history', () => {
  test('newest first, chained balance_after, keyset pages without gaps or duplicates', async () => {
    const [a, b] = await h.createUsers(2);
    await h.fund(a!, '100.00');
    for (let i = 1; i <= 7; i += 1) {
      await post('/transfer', { from_user_id: a, to_user_id: b, amount_to_transfer: `${i}.00` });
    }
    const seen: Array<Record<string, unknown>> = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { status: number; body: { items: Array<Record<string, unknown>>; next_cursor: string | null } } =
        await requestJson(`${h.url}/users/${a}/transactions?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(page.status, 200);
      seen.push(...page.body.items);
      cursor = page.body.next_cursor;
      pages += 1;
      // Entries arriving while paging must not shift later pages.
      if (pages === 1) await post('/transfer', { from_user_id: b, to_user_id: a, amount_to_transfer: '0.50' });
    } while (cursor);
    assert.equal(pages, 3);
    assert.equal(seen.length, 8); // 1 add_money + 7 debits; the credit made mid-way is newer than page 1
    assert.equal(new Set(seen.map((s) => s.id)).size, 8);
    assert.deepEqual(seen.at(-1), { ...seen.at(-1), kind: 'add_money', type: 'credit', amount: '100.00', balance_after: '100.00', transfer_id: null, counterparty_user_id: null });
    assert.equal(seen[0]?.kind, 'transfer');
    assert.equal(seen[0]?.type, 'debit');
    assert.equal(seen[0]?.counterparty_user_id, b);
    assert.equal(seen[0]?.balance_after, '72.00');
    // Each entry's balance_after is the older entry's plus or minus its amount.
    for (let i = 0; i < seen.length - 1; i += 1) {
      const newer = seen[i]!;
      const older = seen[i + 1]!;
      const sign = newer.type === 'credit' ? 1n : -1n;
      const cents = (s: unknown) => parseCents(String(s));
      assert.equal(cents(newer.balance_after), cents(older.balance_after) + sign * cents(newer.amount));
    }
  });
});

describe('the database guards the invariants too', () => {
  test('the ledger is append-only', async () => {
    const [a] = await h.createUsers(1);
    await h.fund(a!, '1.00');
    await assert.rejects(h.db('transactions').where({ user_id: a }).update({ amount_minor: 1 }), /append-only/);
    await assert.rejects(h.db('transactions').where({ user_id: a }).delete(), /append-only/);
  });

  test('a balance can never go negative, even by direct SQL', async () => {
    const [a] = await h.createUsers(1);
    await assert.rejects(h.db('users').where({ user_id: a }).update({ balance_minor: -1 }), /users_balance_non_negative/);
  });
});

describe('operability', () => {
  test('X-Request-Id is accepted and echoed, or generated', async () => {
    const given = await requestJson(`${h.url}/healthz`, { headers: { 'X-Request-Id': 'req-123.abc' } });
    assert.equal(given.headers.get('x-request-id'), 'req-123.abc');
    const generated = await requestJson(`${h.url}/healthz`);
    assert.match(generated.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const unsafe = await requestJson(`${h.url}/healthz`, { headers: { 'X-Request-Id': 'bad id with spaces' } });
    assert.notEqual(unsafe.headers.get('x-request-id'), 'bad id with spaces');
  });

  test('/metrics exposes latency by route, money outcomes, replays and pool use', async () => {
    // Counted from before to after, so the numbers are this test's own whatever ran before it.
    const counters = async () => {
      const text = await scrapeMetrics(h.url);
      return {
        transfer422Latencies: metricValue(text, 'http_request_duration_seconds_count', { route: '/transfer', status: '422' }) ?? 0,
        insufficientFunds: metricValue(text, 'wallet_operations_total', { operation: 'transfer', outcome: 'insufficient_funds' }) ?? 0,
        addMoneyOk: metricValue(text, 'wallet_operations_total', { operation: 'add-money', outcome: 'ok' }) ?? 0,
        transferReplays: metricValue(text, 'wallet_idempotent_replays_total', { operation: 'transfer' }) ?? 0,
      };
    };
    const before = await counters();
    const [a, b] = await h.createUsers(2);
    await h.fund(a!, '3.00');
    await post('/transfer', { from_user_id: a, to_user_id: b, amount_to_transfer: '9.00' });
    // A replay, so the replay counter has a sample of its own (its HELP line alone proves nothing).
    const key = { 'Idempotency-Key': `metrics-${a}` };
    await post('/transfer', { from_user_id: a, to_user_id: b, amount_to_transfer: '1.00' }, key);
    const replayed = await post('/transfer', { from_user_id: a, to_user_id: b, amount_to_transfer: '1.00' }, key);
    assert.equal(replayed.headers.get('idempotent-replayed'), 'true');
    const after = await counters();
    assert.deepEqual(
      Object.fromEntries(Object.entries(after).map(([name, value]) => [name, value - before[name as keyof typeof before]])),
      { transfer422Latencies: 1, insufficientFunds: 1, addMoneyOk: 1, transferReplays: 1 },
    );

    // Pool use moves: a read of the service's pool held up by a table lock shows as one more
    // connection in use, and goes back once the lock is gone.
    const used = async () => metricValue(await scrapeMetrics(h.url), 'db_pool_connections', { state: 'used' });
    const usedBefore = await used();
    assert.notEqual(usedBefore, undefined, 'db_pool_connections{state="used"} is exported');
    const lock = await h.db.transaction();
    let read: Promise<unknown> | undefined;
    try {
      await lock.raw('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
      read = balanceOf(a!);
      const usedDuring = await waitFor(async () => {
        const value = await used();
        return value !== undefined && value > usedBefore! ? value : undefined;
      }, { timeoutMs: 5_000, what: 'the held-up read to show in db_pool_connections{state="used"}' });
      assert.equal(usedDuring, usedBefore! + 1);
    } finally {
      await lock.commit();
      await read;
    }
    await waitFor(async () => ((await used()) === usedBefore ? true : undefined), {
      timeoutMs: 5_000,
      what: 'db_pool_connections{state="used"} to go back once the read is done',
    });
  });

  test('/readyz reports each dependency, including the consumer having joined its group', async () => {
    const ready = await waitFor(
      async () => {
        const r = await requestJson<{ status: string; checks: Record<string, string> }>(`${h.url}/readyz`);
        return r.status === 200 ? r : undefined;
      },
      { what: 'readiness' },
    );
    assert.deepEqual(ready.body.checks, { postgres: 'ok', nats: 'ok', kafka: 'ok', 'kafka-consumer': 'ok' });
  });
});
