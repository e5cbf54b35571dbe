import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertProblem, countRows, requestJson, scrapeMetric, startUserServiceHarness, type UserServiceHarness } from '@wallet/platform/testkit';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

let h: UserServiceHarness;
before(async () => {
  h = await startUserServiceHarness();
});
after(async () => {
  await h.stop();
});

const postUser = (body: unknown) => requestJson(`${h.url}/users`, { body });

interface OutboxRowView {
  event_id: string;
  event_type: string;
  aggregate_id: string;
  payload: Record<string, unknown>;
  published_at: Date | null;
  attempts: number;
}

describe('POST /users', () => {
  test('creates the user and its user-created outbox event in one go', async () => {
    const response = await postUser({ email: 'first.user@example.com' });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    const body = response.body as { user_id: string; email: string; created_at: string };
    assert.deepEqual(Object.keys(body).sort(), ['created_at', 'email', 'user_id']);
    assert.match(body.user_id, UUID_V7);
    assert.equal(body.email, 'first.user@example.com');
    assert.match(body.created_at, ISO_UTC);
    assert.ok(Math.abs(Date.parse(body.created_at) - Date.now()) < 60_000);

    const user = await h.db('users').where({ user_id: body.user_id }).first<{ email: string; created_at: Date }>();
    assert.equal(user?.email, 'first.user@example.com');
    assert.equal(user?.created_at.toISOString(), body.created_at);

    const events = await h.db<OutboxRowView>('outbox').where({ aggregate_id: body.user_id });
    assert.equal(events.length, 1);
    const [event] = events;
    assert.equal(event?.event_type, 'user-created');
    assert.match(String(event?.event_id), /^[0-9a-f-]{36}$/);
    assert.deepEqual(event?.payload, body);
    assert.equal(event?.published_at, null);
    assert.equal(event?.attempts, 0);
  });

  test('trims and lower-cases the email before storing it', async () => {
    const response = await postUser({ email: '  Mixed.Case@Example.COM \t' });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    assert.equal(response.body.email, 'mixed.case@example.com');
  });

  test('a duplicate email is 409 duplicate_email, whatever its case or surrounding spaces', async () => {
    assert.equal((await postUser({ email: 'dup@example.com' })).status, 201);
    const users = await countRows(h.db, 'users');
    const events = await countRows(h.db, 'outbox');
    for (const email of ['dup@example.com', 'DUP@Example.com', '  dup@EXAMPLE.COM  ']) {
      assertProblem(await postUser({ email }), 409, 'duplicate_email');
    }
    assert.equal(await countRows(h.db, 'users'), users);
    assert.equal(await countRows(h.db, 'outbox'), events);
  });

  test('an address typed with a combining accent is the same user as its composed form', async () => {
    const local = `jos${Date.now()}`;
    const composed = await postUser({ email: `${local}\u00e9@example.com` }); // é as one code point
    assert.equal(composed.status, 201);
    assertProblem(await postUser({ email: `${local}e\u0301@example.com` }), 409, 'duplicate_email'); // e + U+0301
  });

  test('concurrent requests for one email: exactly one 201, the rest 409, one user, one event', async () => {
    const variants = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? 'race@example.com' : ' RACE@example.com'));
    const responses = await Promise.all(variants.map((email) => postUser({ email })));
    const statuses = responses.map((r) => r.status).sort();
    assert.equal(statuses.filter((s) => s === 201).length, 1, JSON.stringify(statuses));
    assert.equal(statuses.filter((s) => s === 409).length, 29, JSON.stringify(statuses));
    for (const r of responses.filter((x) => x.status === 409)) assertProblem(r, 409, 'duplicate_email');
    const rows = await h.db('users').where({ email: 'race@example.com' });
    assert.equal(rows.length, 1);
    const events = await h.db('outbox').whereRaw(`payload->>'email' = ?`, ['race@example.com']);
    assert.equal(events.length, 1);
  });

  describe('bad input is refused with problem+json and leaves no user and no event', () => {
    const cases: Array<{ name: string; send: () => Promise<{ status: number; headers: Headers; body: unknown }>; status: number; code: string }> = [
      { name: 'missing email', send: () => postUser({}), status: 400, code: 'validation_failed' },
      { name: 'empty email', send: () => postUser({ email: '   ' }), status: 400, code: 'validation_failed' },
      { name: 'invalid email', send: () => postUser({ email: 'not-an-email' }), status: 400, code: 'validation_failed' },
      { name: 'email without a domain', send: () => postUser({ email: 'a@' }), status: 400, code: 'validation_failed' },
      { name: 'non-string email', send: () => postUser({ email: 42 }), status: 400, code: 'validation_failed' },
      { name: 'array email', send: () => postUser({ email: ['a@b.co'] }), status: 400, code: 'validation_failed' },
      { name: 'null email', send: () => postUser({ email: null }), status: 400, code: 'validation_failed' },
      // JSON.stringify keeps the lone surrogate as \ud800, which PostgreSQL's JSON refuses (was a 500).
      { name: 'email with a lone UTF-16 surrogate', send: () => postUser({ email: '\ud800@example.com' }), status: 400, code: 'validation_failed' },
      {
        name: 'email longer than 254 characters',
        send: () => postUser({ email: `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.io` }),
        status: 400,
        code: 'validation_failed',
      },
      { name: 'unknown field', send: () => postUser({ email: 'x1@example.com', admin: true }), status: 400, code: 'validation_failed' },
      // Look-alikes of another address: invisible or direction-changing format characters (Cf).
      { name: 'email with a zero-width space (U+200B)', send: () => postUser({ email: 'first\u200b.user@example.com' }), status: 400, code: 'validation_failed' },
      { name: 'email with a right-to-left override (U+202E)', send: () => postUser({ email: 'first.user@exa\u202emple.com' }), status: 400, code: 'validation_failed' },
      { name: 'email with a leading byte-order mark (U+FEFF)', send: () => postUser({ email: '\ufefffirst.user@example.com' }), status: 400, code: 'validation_failed' },
      { name: 'email with a soft hyphen (U+00AD)', send: () => postUser({ email: 'first\u00ad.user@example.com' }), status: 400, code: 'validation_failed' },
      { name: 'JSON array body', send: () => postUser([{ email: 'x2@example.com' }]), status: 400, code: 'validation_failed' },
      {
        name: 'text/plain body',
        send: () => requestJson(`${h.url}/users`, { method: 'POST', rawBody: '{"email":"x3@example.com"}', headers: { 'content-type': 'text/plain' } }),
        status: 415,
        code: 'unsupported_media_type',
      },
      {
        name: 'no content type',
        send: () => requestJson(`${h.url}/users`, { method: 'POST', rawBody: 'email=x4@example.com' }),
        status: 415,
        code: 'unsupported_media_type',
      },
      {
        name: 'malformed JSON',
        send: () => requestJson(`${h.url}/users`, { method: 'POST', rawBody: '{"email": "x5@example.com"', headers: { 'content-type': 'application/json' } }),
        status: 400,
        code: 'malformed_json',
      },
      {
        name: 'a JSON string instead of an object',
        send: () => requestJson(`${h.url}/users`, { method: 'POST', rawBody: '"x6@example.com"', headers: { 'content-type': 'application/json' } }),
        status: 400,
        code: 'malformed_json',
      },
      {
        name: 'a 2 MB body',
        send: () => postUser({ email: 'x7@example.com', padding: 'p'.repeat(2 * 1024 * 1024) }),
        status: 413,
        code: 'payload_too_large',
      },
    ];
    for (const c of cases) {
      test(c.name, async () => {
        const users = await countRows(h.db, 'users');
        const events = await countRows(h.db, 'outbox');
        assertProblem(await c.send(), c.status, c.code);
        assert.equal(await countRows(h.db, 'users'), users);
        assert.equal(await countRows(h.db, 'outbox'), events);
      });
    }
  });

  test('a body with thousands of unknown keys gets a short answer naming the first 10 problems', async () => {
    const body: Record<string, number | string> = { email: 'many.keys@example.com' };
    for (let i = 0; i < 5_400; i++) body[`k${i}`] = 1;
    const sent = JSON.stringify(body);
    assert.ok(sent.length > 50_000 && sent.length < 65_536, String(sent.length));
    const response = await requestJson<{ code: string; detail: string }>(`${h.url}/users`, { method: 'POST', rawBody: sent, headers: { 'content-type': 'application/json' } });
    assertProblem(response, 400, 'validation_failed');
    const size = Buffer.byteLength(JSON.stringify(response.body));
    assert.ok(size <= 2_048 + 300, `the whole problem is ${size} bytes`);
    assert.equal(response.body.detail.match(/is not allowed/g)?.length, 10);
    assert.match(response.body.detail, /and 5390 more problems$/);
    // A single unknown key as long as the body is cut too.
    const longKey = await postUser({ email: 'long.key@example.com', ['k'.repeat(60_000)]: 1 });
    assertProblem(longKey, 400, 'validation_failed');
    assert.ok(Buffer.byteLength(JSON.stringify(longKey.body)) <= 2_048 + 300);
  });

  test('a body nested deeper than 32 levels is 400 malformed_json without engine text', async () => {
    const depth = 32_000;
    const rawBody = `{"email":"deep@example.com","x":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    const response = await requestJson<{ detail: string }>(`${h.url}/users`, { method: 'POST', rawBody, headers: { 'content-type': 'application/json' } });
    assertProblem(response, 400, 'malformed_json');
    assert.doesNotMatch(JSON.stringify(response.body), /stack|RangeError|Maximum/i);
    assert.match(response.body.detail, /deeper than 32 levels/);
  });

  test('the schema itself refuses a non-normalised or duplicate email (not just the code)', async () => {
    const id = '01900000-0000-7000-8000-000000000001';
    await assert.rejects(h.db('users').insert({ user_id: id, email: 'Upper@Example.com' }), { code: '23514' });
    await assert.rejects(h.db('users').insert({ user_id: id, email: ' spaced@example.com' }), { code: '23514' });
    await assert.rejects(h.db('users').insert({ user_id: id, email: 'dup@example.com' }), { code: '23505' });
  });
});

describe('operations', () => {
  test('listens on the loopback only, by default (HOST)', () => {
    const address = h.service.server.address();
    assert.ok(address !== null && typeof address === 'object');
    assert.equal(address.address, '127.0.0.1');
  });

  test('healthz, readyz (postgres + nats) and metrics', async () => {
    assert.equal((await requestJson(`${h.url}/healthz`)).status, 200);
    const ready = await requestJson<{ status: string; checks: Record<string, string> }>(`${h.url}/readyz`);
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.deepEqual(ready.body.checks, { postgres: 'ok', nats: 'ok' });
    const created = await scrapeMetric(h.url, 'users_created_total');
    assert.notEqual(created, undefined, 'users_created_total is exported');
    assert.equal(created, await countRows(h.db, 'users'));
  });
});
