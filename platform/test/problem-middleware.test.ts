import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import Router from '@koa/router';
import { AppError, closeServer, CONNECTIONS_CHECKING_INTERVAL_MS, createHttpApp, createLogger, createMetricsRegistry, exceedsJsonDepth, JsonNumber, listen, MAX_JSON_DEPTH, MAX_PROBLEM_DETAIL_BYTES, requestBody, truncateUtf8 } from '@wallet/platform';
import { requestJson } from '@wallet/platform/testkit';

/** The one error middleware maps every failure once; these are the failures no service test provokes on demand. */
let server: Server;
let url: string;

function failWith(error: unknown): () => never {
  return () => {
    throw error;
  };
}

before(async () => {
  const router = new Router();
  const poolTimeout = Object.assign(new Error('Knex: Timeout acquiring a connection. The pool is probably full.'), {
    name: 'KnexTimeoutError',
  });
  router.get('/pool-timeout', failWith(poolTimeout));
  router.get('/admin-shutdown', failWith(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })));
  router.get('/refused', failWith(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })));
  router.get('/bug', failWith(new TypeError("Cannot read properties of undefined (reading 'balance')")));
  router.get('/app-error', failWith(new AppError('insufficient_funds', 'not enough')));
  // Echoes the parsed body, showing each number as the source text it kept.
  const describe = (value: unknown): unknown =>
    value instanceof JsonNumber
      ? { number: value.source }
      : Array.isArray(value)
        ? value.map(describe)
        : value !== null && typeof value === 'object'
          ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, describe(v)]))
          : value;
  router.post('/echo', (ctx) => {
    ctx.body = { body: describe(requestBody(ctx)) };
  });
  router.get('/echo', (ctx) => {
    ctx.body = { body: describe(requestBody(ctx)) };
  });
  const app = createHttpApp({
    logger: createLogger({ service: 'test', level: 'silent' }),
    metrics: createMetricsRegistry('test'),
    router,
    readinessChecks: {},
    bodyLimitBytes: 1024,
  });
  server = await listen(app, 0, '127.0.0.1');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await closeServer(server);
});

for (const path of ['/pool-timeout', '/admin-shutdown', '/refused']) {
  test(`a database outage (${path}) is 503 service_unavailable with Retry-After, not 500`, async () => {
    const response = await requestJson(`${url}${path}`);
    assert.equal(response.status, 503);
    assert.equal(response.headers.get('retry-after'), '1');
    assert.equal((response.body as { code: string }).code, 'service_unavailable');
  });
}

test('a bug is 500 internal_error without its message or stack', async () => {
  const response = await requestJson(`${url}/bug`);
  assert.equal(response.status, 500);
  assert.equal((response.body as { code: string }).code, 'internal_error');
  assert.doesNotMatch(JSON.stringify(response.body), /balance|TypeError|\.js:\d+/);
});

test('an AppError keeps its status, code and detail', async () => {
  const response = await requestJson(`${url}/app-error`);
  assert.equal(response.status, 422);
  assert.deepEqual(response.body, {
    type: 'urn:problem-type:wallet:insufficient_funds',
    title: 'Insufficient funds',
    status: 422,
    detail: 'not enough',
    code: 'insufficient_funds',
  });
});

/** Sends bytes as they are (no client-side HTTP checks) and resolves with the whole response. */
function sendRaw(request: string): Promise<{ status: number; contentType: string; body: Record<string, unknown> }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n');
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
        contentType: /content-type: ([^\r]+)/i.exec(head)?.[1] ?? '',
        body: (body ? JSON.parse(body) : {}) as Record<string, unknown>,
      });
    });
    socket.end(request);
  });
}

const post = (body: string | Buffer, headers: Record<string, string> = {}) =>
  fetch(`${url}/echo`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

test('body numbers keep the exact text the client sent (no double in between)', async () => {
  const response = await post('{"a":1e2,"b":12.500,"c":[0.0099999999999999999,-0],"d":"12.5","e":true}');
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), {
    body: { a: { number: '1e2' }, b: { number: '12.500' }, c: [{ number: '0.0099999999999999999' }, { number: '-0' }], d: '12.5', e: true },
  });
});

test('a duplicate key is 400 malformed_json: which value was meant is ambiguous', async () => {
  const response = await post('{"amount":"1.00","amount":"100.00"}');
  assert.equal(response.status, 400);
  assert.equal(((await response.json()) as { code: string }).code, 'malformed_json');
});

test('a body that does not decompress is 400 malformed_json, not 500; a good one is read', async () => {
  for (const [encoding, body] of [
    ['gzip', Buffer.from('not gzip at all')],
    ['deflate', Buffer.from('xx')],
    ['br', Buffer.from('xx')],
    ['gzip', gzipSync('{"a":1}').subarray(0, 10)], // truncated
  ] as const) {
    const response = await post(body, { 'content-encoding': encoding });
    assert.equal(response.status, 400, encoding);
    assert.match(response.headers.get('content-type') ?? '', /problem\+json/);
    assert.equal(((await response.json()) as { code: string }).code, 'malformed_json');
  }
  const good = await post(brotliCompressSync('{"a":"x"}'), { 'content-encoding': 'br' });
  assert.deepEqual(await good.json(), { body: { a: 'x' } });
});

test('a declared charset other than UTF-8 is 415; a body on a GET must be JSON too', async () => {
  const latin1 = await post(Buffer.from('{"email":"j\xf6rg@x.io"}', 'latin1'), { 'content-type': 'application/json; charset=latin1' });
  assert.equal(latin1.status, 415);
  assert.equal(((await latin1.json()) as { code: string }).code, 'unsupported_media_type');
  assert.equal((await post('{"a":"b"}', { 'content-type': 'application/json; charset=UTF-8' })).status, 200);
  const getText = await sendRaw('GET /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 7\r\nConnection: close\r\n\r\nemail=x');
  assert.equal(getText.status, 415);
  const getJson = await sendRaw('GET /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{"a":"b"}');
  assert.deepEqual(getJson.body, { body: { a: 'b' } });
});

/** Sends raw HTTP and asserts a problem+json answer with this status and code. */
async function assertRawProblem(request: string, status: number, code: string): Promise<void> {
  const response = await sendRaw(request);
  assert.equal(response.status, status);
  assert.match(response.contentType, /problem\+json/);
  assert.equal(response.body.code, code);
}

test('a method the router does not know (TRACE) is 405 problem+json, not a bare 501', async () => {
  await assertRawProblem('TRACE /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 405, 'method_not_allowed');
});

test("requests Node's parser refuses get problem+json too, not an empty answer", async () => {
  await assertRawProblem('GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400, 'malformed_request');
  await assertRawProblem(`GET /echo HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large');
});

test('an Expect header other than 100-continue is 417 problem+json, not an empty answer', async () => {
  const request = 'POST /echo HTTP/1.1\r\nHost: x\r\nExpect: the-impossible\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}';
  await assertRawProblem(request, 417, 'expectation_failed');
});

test('CONNECT is 405 problem+json and the connection is closed (this is not a proxy)', async () => {
  await assertRawProblem('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 405, 'method_not_allowed');
});

test(`JSON nested up to ${MAX_JSON_DEPTH} levels is read; deeper is 400 malformed_json without engine text`, async () => {
  const nested = (depth: number) => `{"a":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;
  assert.equal((await post(nested(MAX_JSON_DEPTH))).status, 200);
  for (const depth of [MAX_JSON_DEPTH + 1, 400]) {
    const response = await post(nested(depth));
    assert.equal(response.status, 400, String(depth));
    const body = (await response.json()) as { code: string; detail: string };
    assert.equal(body.code, 'malformed_json');
    assert.doesNotMatch(body.detail, /stack|RangeError|Maximum call/i);
  }
  // Brackets inside strings are text, not nesting.
  assert.equal((await post(`{"a":"${'['.repeat(100)}\\"${'{'.repeat(100)}"}`)).status, 200);
});

test('exceedsJsonDepth counts only structure', () => {
  assert.equal(exceedsJsonDepth('[[[]]]', 3), false);
  assert.equal(exceedsJsonDepth('[[[[]]]]', 3), true);
  assert.equal(exceedsJsonDepth('{"a":"[[[[[[","b":[{}]}', 3), false);
  assert.equal(exceedsJsonDepth('{"a\\"[[[[":1}', 1), false);
});

test('a problem detail is capped at 2 KB whatever it quotes', async () => {
  const response = await requestJson<{ code: string; detail: string }>(`${url}/${'p'.repeat(8_000)}`);
  assert.equal(response.status, 404);
  assert.equal(response.body.code, 'not_found');
  assert.ok(Buffer.byteLength(response.body.detail) <= MAX_PROBLEM_DETAIL_BYTES);
  assert.match(response.body.detail, /…$/);
  assert.equal(truncateUtf8('€€€', 9), '€€€');
  assert.equal(truncateUtf8('€€€', 8), '€…');
});

test('the documented timeouts are the server\'s, checked every second so a 408 is not late', async () => {
  assert.equal(server.headersTimeout, 10_000);
  assert.equal(server.requestTimeout, 30_000);
  assert.equal(CONNECTIONS_CHECKING_INTERVAL_MS, 1_000);

  // The same server with a 1 s header timeout (the mechanism, without waiting 10 s): a client that
  // never finishes its headers gets a 408 problem+json within the limit plus one check interval.
  const quick = await listen(
    createHttpApp({ logger: createLogger({ service: 'test', level: 'silent' }), metrics: createMetricsRegistry('t'), router: new Router(), readinessChecks: {}, bodyLimitBytes: 1024 }),
    0,
    '127.0.0.1',
    { headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 },
  );
  try {
    const started = Date.now();
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect((quick.address() as AddressInfo).port, '127.0.0.1');
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'); // and never the blank line
    });
    const elapsed = Date.now() - started;
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.match(answer, /"code":"request_timeout"/);
    assert.ok(elapsed >= 900 && elapsed < 1_000 + CONNECTIONS_CHECKING_INTERVAL_MS + 1_500, `408 after ${elapsed} ms`);
  } finally {
    await closeServer(quick);
  }
});

test('listen binds the loopback unless told otherwise', async () => {
  const app = createHttpApp({ logger: createLogger({ service: 'test', level: 'silent' }), metrics: createMetricsRegistry('t2'), router: new Router(), readinessChecks: {}, bodyLimitBytes: 1024 });
  const loopback = await listen(app, 0);
  try {
    assert.equal((loopback.address() as AddressInfo).address, '127.0.0.1');
  } finally {
    await closeServer(loopback);
  }
});
