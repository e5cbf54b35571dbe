import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import { AppError, closeServer, createHttpApp, createLogger, createMetricsRegistry, listen } from '../src/index';
import { requestJson } from '../src/testing/index';

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
