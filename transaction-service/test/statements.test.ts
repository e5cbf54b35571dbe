import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import type { BalanceReply, TransactionHistoryItem, TransactionHistoryPage } from '@wallet/platform';
import {
  installParkingTrigger,
  requestJson,
  runTransferLoad,
  seedCreditRun,
  spawnTransactionService,
  startTransactionServiceHarness,
  TEST_NATS_URL,
  testNatsLogin,
  type TransactionServiceHarness,
} from '@wallet/platform/testkit';
import { formatMinor } from '../src/domain/money';
import type { StatementPage } from '../src/domain/statements';
import { buildLedger, insertLedger, replayBalanceAt, replayPeriod, seededRandom, type LedgerModel, type ModelEntry } from './support/ledger-model';

/** Short enough for fast tests, long enough to be a real window the reads must respect. */
const SETTLE_MS = 200;
const DAY = 86_400_000;

let h: TransactionServiceHarness;
let model: LedgerModel;
const random = seededRandom(22);

before(async () => {
  h = await startTransactionServiceHarness({ AS_OF_SETTLE_MS: String(SETTLE_MS), AS_OF_LOCK_TIMEOUT_MS: '5000' });
  // 12 users with ~4,000 entries each, over about 60 days ending a day ago.
  model = buildLedger(12, 30_000, Date.now() - 62 * DAY, random);
  await insertLedger(h.db, model);
});
after(async () => {
  await h.stop();
});

const get = <T = Record<string, unknown>>(path: string, headers: Record<string, string> = {}) =>
  requestJson<T>(`${h.url}${path}`, { headers, timeoutMs: 30_000 });
const iso = (ms: number) => new Date(ms).toISOString();
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

/** At most `limit` promises at once, over all `count` tasks. */
async function pool(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < count) await task(next++);
  }));
}

function asItem(e: ModelEntry): TransactionHistoryItem {
  return {
    id: e.id,
    user_id: e.user_id,
    type: e.type,
    kind: e.kind,
    amount: formatMinor(e.amount),
    balance_after: formatMinor(e.balanceAfter),
    transfer_id: e.transferId,
    counterparty_user_id: e.counterparty,
    created_at: iso(e.atMs),
    sequence: e.sequence.toString(),
  };
}

/** An instant in or around the model's span: often exactly on an entry's time, or a millisecond either side. */
function someInstant(user: string): number {
  const entries = model.entries.get(user)!;
  const r = random();
  if (r < 0.5) return pick(entries).atMs + Math.floor(random() * 3) - 1;
  return model.firstMs - DAY + Math.floor(random() * (model.lastMs - model.firstMs + 2 * DAY));
}

/** The statement's JSON: the domain page's figures, then its rows as history items and the next page's cursor. */
type StatementBody = Omit<StatementPage, 'rows' | 'next'> & TransactionHistoryPage;

/** Every page of a statement, following next_cursor (bounded by the period's entry count). */
async function allPages(user: string, query: string, limit: number): Promise<{ first: StatementBody; items: TransactionHistoryItem[] }> {
  const first = await get<StatementBody>(`/users/${user}/statement?${query}&limit=${limit}`);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const items = [...first.body.items];
  let cursor = first.body.next_cursor;
  for (let page = 0; cursor !== null && page <= first.body.entry_count / limit + 1; page += 1) {
    const next = await get<StatementBody>(`/users/${user}/statement?cursor=${cursor}&limit=${limit}`);
    assert.equal(next.status, 200, JSON.stringify(next.body));
    assert.deepEqual({ ...next.body, items: [], next_cursor: null }, { ...first.body, items: [], next_cursor: null }, 'every page has the same figures');
    items.push(...next.body.items);
    cursor = next.body.next_cursor;
  }
  assert.equal(cursor, null, 'the pages end');
  return { first: first.body, items };
}

describe('against a replay of each user\'s history', () => {
  test('10,000 random (user, instant) pairs: as_of equals the replay', async () => {
    const failures: string[] = [];
    await pool(10_000, 16, async () => {
      const user = pick(model.users);
      const at = someInstant(user);
      const response = await get(`/users/${user}/balance?as_of=${encodeURIComponent(iso(at))}`);
      const expected = replayBalanceAt(model, user, at);
      // No holds in this model: the available balance is the balance.
      const want = { user_id: user, balance: formatMinor(expected.balance), available_balance: formatMinor(expected.balance), as_of: iso(at), sequence: expected.sequence.toString() };
      if (response.status !== 200 || JSON.stringify(response.body) !== JSON.stringify(want)) {
        failures.push(`${user} at ${iso(at)}: ${response.status} ${JSON.stringify(response.body)} != ${JSON.stringify(want)}`);
      }
    });
    assert.deepEqual(failures.slice(0, 5), []);
  });

  test('1,000 random periods: opening + credits - debits = closing, and the items are exactly the replay\'s entries', async () => {
    const failures: string[] = [];
    await pool(1_000, 8, async () => {
      const user = pick(model.users);
      const a = someInstant(user);
      // Up to about a sixth of the span (a few hundred entries), sometimes empty, sometimes one instant wide.
      const b = a + pick([0, 1, Math.floor(random() * 10 * DAY)]);
      const limit = pick([97, 1_000]);
      const { first, items } = await allPages(user, `from=${encodeURIComponent(iso(a))}&to=${encodeURIComponent(iso(b))}`, limit);
      const replay = replayPeriod(model, user, a, b);
      const figures = {
        opening_balance: formatMinor(replay.opening),
        closing_balance: formatMinor(replay.closing),
        total_credits: formatMinor(replay.credits),
        total_debits: formatMinor(replay.debits),
        entry_count: replay.entries.length,
      };
      const got = { opening_balance: first.opening_balance, closing_balance: first.closing_balance, total_credits: first.total_credits, total_debits: first.total_debits, entry_count: first.entry_count };
      if (JSON.stringify(got) !== JSON.stringify(figures)) failures.push(`${user} [${iso(a)}, ${iso(b)}): ${JSON.stringify(got)} != ${JSON.stringify(figures)}`);
      if (replay.opening + replay.credits - replay.debits !== replay.closing) failures.push('the replay itself does not add up');
      if (JSON.stringify(items) !== JSON.stringify(replay.entries.map(asItem))) failures.push(`${user} [${iso(a)}, ${iso(b)}): items differ`);
    });
    assert.deepEqual(failures.slice(0, 5), []);
  });
});

/** Parses RFC 4180 CSV as the statement writes it (fields quoted only when needed). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  for (const line of text.split('\r\n')) {
    if (line === '') continue;
    const fields: string[] = [];
    for (const m of line.matchAll(/(?:^|,)("(?:[^"]|"")*"|[^,]*)/g)) {
      const f = m[1] ?? '';
      fields.push(f.startsWith('"') ? f.slice(1, -1).replace(/""/g, '"') : f);
    }
    rows.push(fields);
  }
  return rows;
}

test('CSV parses back to the same entries as the JSON pages', async () => {
  for (let i = 0; i < 20; i += 1) {
    const user = pick(model.users);
    const [a, b] = [someInstant(user), someInstant(user)].sort((x, y) => x - y) as [number, number];
    const query = `from=${encodeURIComponent(iso(a))}&to=${encodeURIComponent(iso(b))}`;
    const csv = await get<string>(`/users/${user}/statement?${query}`, { accept: 'text/csv' });
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
    assert.ok(csv.text.endsWith('\r\n'));
    const [header, ...rows] = parseCsv(csv.text);
    const { items } = await allPages(user, query, 1_000);
    assert.deepEqual(header, Object.keys(asItem(model.entries.get(user)![0]!)));
    const fromCsv = rows.map((r) => Object.fromEntries(header.map((column, k) => [column, r[k] === '' ? null : r[k]])));
    assert.deepEqual(fromCsv, items);
  }
});

describe('bad input is a clear 4xx, never a 500', () => {
  const cases: Array<[string, string, number, string, Record<string, string>?]> = [
    ['malformed as_of', 'balance?as_of=yesterday', 400, 'validation_failed'],
    ['date-only as_of', 'balance?as_of=2024-05-01', 400, 'validation_failed'],
    ['February 30', 'balance?as_of=2024-02-30T00:00:00Z', 400, 'validation_failed'],
    ['24:00', 'balance?as_of=2024-02-01T24:00:00Z', 400, 'validation_failed'],
    ['no offset', 'balance?as_of=2024-02-01T10:00:00', 400, 'validation_failed'],
    ['microseconds', 'balance?as_of=2024-02-01T10:00:00.000001Z', 400, 'validation_failed'],
    ['year 0', 'balance?as_of=0000-01-01T00:00:00Z', 400, 'validation_failed'],
    ['future as_of', `balance?as_of=${encodeURIComponent(iso(Date.now() + DAY))}`, 400, 'validation_failed'],
    ['two as_of', 'balance?as_of=2024-02-01T10:00:00Z&as_of=2024-02-01T10:00:00Z', 400, 'validation_failed'],
    ['unknown parameter', 'balance?at=2024-02-01T10:00:00Z', 400, 'validation_failed'],
    ['from > to', 'statement?from=2024-02-02T00:00:00Z&to=2024-02-01T00:00:00Z', 400, 'validation_failed'],
    ['no from', 'statement?to=2024-02-01T00:00:00Z', 400, 'validation_failed'],
    ['future to', `statement?from=2024-02-01T00:00:00Z&to=${encodeURIComponent(iso(Date.now() + DAY))}`, 400, 'validation_failed'],
    ['limit 0', 'statement?from=2024-02-01T00:00:00Z&limit=0', 400, 'validation_failed'],
    ['limit too large', 'statement?from=2024-02-01T00:00:00Z&limit=1001', 400, 'validation_failed'],
    ['forged cursor', `statement?cursor=${Buffer.from('st1.1.2.3.99999999999999999999').toString('base64url')}`, 400, 'validation_failed'],
    ['garbage cursor', 'statement?cursor=abc', 400, 'validation_failed'],
    ['CSV with a limit', 'statement?from=2024-02-01T00:00:00Z&limit=5', 400, 'validation_failed', { accept: 'text/csv' }],
    ['neither JSON nor CSV', 'statement?from=2024-02-01T00:00:00Z', 406, 'not_acceptable', { accept: 'image/png' }],
  ];
  for (const [name, path, status, code, headers] of cases) {
    test(name, async () => {
      const response = await get(`/users/${model.users[0]}/${path}`, headers);
      assert.equal(response.status, status, JSON.stringify(response.body));
      assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(response.body.code, code);
    });
  }

  test('an instant less than the settling window ago is 400 as_of_not_settled, with Retry-After', async () => {
    const response = await get(`/users/${model.users[0]}/balance?as_of=${encodeURIComponent(iso(Date.now() - 20))}`);
    assert.equal(response.status, 400);
    assert.equal(response.body.code, 'as_of_not_settled');
    assert.equal(response.headers.get('retry-after'), '1');
  });

  test('an unknown user is 404 user_not_found, a user id that is not one is 400', async () => {
    const past = encodeURIComponent(iso(Date.now() - DAY));
    assert.equal((await get(`/users/${randomUUID()}/balance?as_of=${past}`)).body.code, 'user_not_found');
    assert.equal((await get(`/users/${randomUUID()}/statement?from=${past}`)).body.code, 'user_not_found');
    assert.equal((await get(`/users/${randomUUID()}/statement?from=${past}`, { accept: 'text/csv' })).body.code, 'user_not_found');
    assert.equal((await get(`/users/nope/balance?as_of=${past}`)).status, 400);
  });

  test('a cursor names its own period: from/to beside it must match', async () => {
    const user = model.users[0]!;
    const from = encodeURIComponent(iso(model.firstMs));
    const first = await get<StatementBody>(`/users/${user}/statement?from=${from}&limit=5`);
    assert.ok(first.body.next_cursor);
    const other = await get(`/users/${user}/statement?cursor=${first.body.next_cursor}&from=${encodeURIComponent(iso(model.firstMs + 1))}`);
    assert.equal(other.body.code, 'validation_failed');
    // `to` left out defaulted to the request's "now": the cursor keeps that period for the next page.
    const again = await get<StatementBody>(`/users/${user}/statement?cursor=${first.body.next_cursor}&limit=5`);
    assert.equal(again.body.to, first.body.to);
  });
});

describe('the hard rule: an answer about a past moment never changes', () => {
  test('a read of a settled instant waits for a batch that holds the user and timed its rows before that instant', async () => {
    const [a, b] = await h.createUsers(2);
    await h.fund(a!, '50.00');
    // The money batch parked right after its write (its rows timed, its users' rows locked) until released.
    const park = await installParkingTrigger(h.db, { name: 'park_batch_5151', on: 'AFTER INSERT ON money_batches FOR EACH STATEMENT', key: 5151 });
    try {
      const transfer = requestJson(`${h.url}/transfer`, { body: { from_user_id: a, to_user_id: b, amount_to_transfer: '20.00' } });
      await park.waitUntilParked('the batch to park after its write');
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS + 100));
      const asOf = iso(Date.now() - SETTLE_MS);
      // The hazard: the parked rows carry a time before as_of, and a plain read does not see them.
      const naive = await h.db.raw<{ rows: unknown[] }>('SELECT 1 FROM transactions WHERE user_id = ? AND created_at <= ?', [b!, asOf]);
      assert.equal(naive.rows.length, 0);
      let answered = false;
      const read = get(`/users/${b}/balance?as_of=${encodeURIComponent(asOf)}`).finally(() => {
        answered = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(answered, false, 'the read waits for the batch in flight');
      await park.release();
      assert.equal((await transfer).status, 201);
      const first = await read;
      assert.deepEqual(first.body, { user_id: b, balance: '20.00', available_balance: '20.00', as_of: asOf, sequence: '1' });
      assert.deepEqual((await get(`/users/${b}/balance?as_of=${encodeURIComponent(asOf)}`)).body, first.body);
    } finally {
      await park.remove();
    }
  });

  test('while 100 clients transfer, answers for instants just behind now are the same when read again after the load', async () => {
    const users = await h.createUsers(100);
    await Promise.all(users.map((u) => h.fund(u, '1000.00')));
    const answers: Array<{ path: string; body: unknown }> = [];
    let loading = true;
    const load = runTransferLoad({ txUrl: h.url, userIds: users, transfers: 4_000, concurrency: 100, hotPairShare: 0.1, duplicateShare: 0, maxAmountMinor: 5_000n }).finally(() => {
      loading = false;
    });
    const readers = Array.from({ length: 4 }, async () => {
      for (let i = 0; loading && i < 100_000; i += 1) {
        const user = pick(users);
        const at = Date.now() - SETTLE_MS - Math.floor(random() * 20);
        const paths = [`/users/${user}/balance?as_of=${encodeURIComponent(iso(at))}`, `/users/${user}/statement?from=${encodeURIComponent(iso(at - 1_000))}&to=${encodeURIComponent(iso(at))}&limit=1000`];
        for (const path of paths) {
          const response = await get(path);
          assert.equal(response.status, 200, JSON.stringify(response.body));
          answers.push({ path, body: response.body });
        }
      }
    });
    const [result] = await Promise.all([load, ...readers]);
    assert.deepEqual(result.violations, []);
    assert.ok(answers.length > 200, `only ${answers.length} reads during the load`);
    assert.ok(answers.some((a) => (a.body as { entry_count?: number }).entry_count! > 0), 'some periods held entries');
    const changed: string[] = [];
    await pool(answers.length, 16, async (i) => {
      const { path, body } = answers[i]!;
      const again = await get(path);
      if (JSON.stringify(again.body) !== JSON.stringify(body)) changed.push(`${path}: ${JSON.stringify(body)} -> ${JSON.stringify(again.body)}`);
    });
    assert.deepEqual(changed.slice(0, 3), [], `${changed.length} of ${answers.length} answers changed`);
  });
});

test('NATS: a balance request with as_of is answered at that instant, echoing it', async () => {
  const nats: NatsConnection = await connect({ servers: TEST_NATS_URL, ...testNatsLogin('user-service') });
  try {
    const ask = async (payload: object) =>
      JSON.parse(Buffer.from((await nats.request(h.env.BALANCE_SUBJECT!, JSON.stringify(payload), { timeout: 5_000 })).data).toString()) as BalanceReply;
    const user = model.users[1]!;
    const at = pick(model.entries.get(user)!).atMs;
    const expected = replayBalanceAt(model, user, at);
    assert.deepEqual(await ask({ user_id: user, as_of: iso(at) }), { ok: true, user_id: user, balance: formatMinor(expected.balance), available_balance: formatMinor(expected.balance), as_of: iso(at), sequence: expected.sequence.toString() });
    const recent = iso(Date.now() - 10);
    assert.deepEqual(await ask({ user_id: user, as_of: recent }), { ok: false, error: 'as_of_not_settled', user_id: user, as_of: recent });
    assert.deepEqual(await ask({ user_id: user, as_of: 'soon' }), { ok: false, error: 'invalid_as_of', user_id: user, as_of: 'soon' });
    const unknown = randomUUID();
    assert.deepEqual(await ask({ user_id: unknown, as_of: iso(at) }), { ok: false, error: 'user_not_found', user_id: unknown, as_of: iso(at) });
  } finally {
    await nats.close();
  }
});

/** The resident set (VmRSS) of a process, in bytes, from /proc. */
function memoryOf(pid: number): { rss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS') };
}

/** GETs the CSV of a whole period, counting lines as they arrive and keeping only the last. */
function streamCsv(url: string): Promise<{ lines: number; last: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http.get(url, { headers: { accept: 'text/csv' } }, (response) => {
      let lines = 0;
      let tail = '';
      let last = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        const parts = (tail + chunk).split('\r\n');
        tail = parts.pop() ?? '';
        lines += parts.length;
        if (parts.length > 0) last = parts[parts.length - 1]!;
      });
      response.on('end', () => resolve({ lines, last, ms: performance.now() - started }));
      response.on('error', reject);
    }).on('error', reject);
  });
}

test('a period of 200,000 entries streams as CSV with bounded memory (RSS of the serving process)', async () => {
  const user = randomUUID();
  const start = Date.now() - 30 * DAY;
  await seedCreditRun(h.db, user, start, 200_000);
  // The service in a process of its own, so that its memory is all the stream's; without a cap V8
  // lets the heap of collectable garbage grow far beyond what is live (measured: +90 MB). A heap
  // smaller than the CSV itself (about 45 MB): holding the period would end the process.
  const { url, child } = await spawnTransactionService(h, 'test-tx-csv', { nodeArgs: ['--max-old-space-size=64'], timeoutMs: 30_000 });
  try {
    // Warm up (the first request loads code), then measure from a quiet process.
    await streamCsv(`${url}/users/${user}/statement?from=${encodeURIComponent(iso(start))}&to=${encodeURIComponent(iso(start + 10_000))}`);
    const before = memoryOf(child.child.pid!);
    let peak = before.rss;
    const sampler = setInterval(() => {
      peak = Math.max(peak, memoryOf(child.child.pid!).rss);
    }, 50);
    const result = await streamCsv(`${url}/users/${user}/statement?from=${encodeURIComponent(iso(start))}`).finally(() => clearInterval(sampler));
    peak = Math.max(peak, memoryOf(child.child.pid!).rss);
    const closing = await get<StatementBody>(`/users/${user}/statement?from=${encodeURIComponent(iso(start))}&limit=1`);
    assert.equal(closing.status, 200, JSON.stringify(closing.body));
    assert.equal(result.lines, 200_001, 'a header and one row per entry');
    assert.equal(result.last.split(',')[5], closing.body.closing_balance);
    assert.equal(closing.body.entry_count, 200_000);
    const growth = peak - before.rss;
    process.stdout.write(`# CSV of 200,000 entries: ${Math.round(result.ms)} ms, serving process RSS ${(before.rss / 1e6).toFixed(0)} MB -> peak ${(peak / 1e6).toFixed(0)} MB (+${(growth / 1e6).toFixed(1)} MB)\n`);
    // The CSV is about 45 MB: held in memory (as strings, then as the body) it would take several times that.
    assert.ok(growth < 40e6, `RSS grew ${(growth / 1e6).toFixed(1)} MB while streaming`);
  } finally {
    await child.stop();
  }
});
