import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AssertionError } from 'node:assert';
import { commonErrorResponses, problemResponse, requestIdHeader, sharedComponents, type OpenApiDocument } from '@wallet/platform';
import { assertMatchesOpenApi, findOpenApiMismatches } from '@wallet/platform/testkit';

const document: OpenApiDocument = {
  openapi: '3.1.0',
  info: { title: 'sample', version: '1.0.0' },
  paths: {
    '/users/{user_id}/balance': {
      get: {
        responses: {
          '200': {
            description: 'ok',
            headers: {
              ...requestIdHeader,
              'X-Required': { required: true, schema: { type: 'string', enum: ['yes'] } },
            },
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Balance' } } },
          },
          '404': problemResponse(404, 'unknown user', ['user_not_found']),
          ...commonErrorResponses,
        },
      },
    },
    '/healthz': { get: { responses: { '204': { description: 'no body' } } } },
  },
  components: {
    ...sharedComponents,
    schemas: {
      ...sharedComponents.schemas,
      Balance: {
        type: 'object',
        additionalProperties: false,
        required: ['user_id', 'balance'],
        properties: {
          user_id: { type: 'string', format: 'uuid' },
          balance: { type: 'string', pattern: '^\\d+\\.\\d{2}$' },
        },
      },
    },
  },
};

const path = '/users/{user_id}/balance';
const userId = '0190a3f8-7c1e-7b3a-9d2e-4f5a6b7c8d9e';

describe('assertMatchesOpenApi', () => {
  test('accepts a body, status and content type the document promises', () => {
    assertMatchesOpenApi(document, {
      method: 'GET',
      path,
      status: 200,
      body: { user_id: userId, balance: '12.50' },
      contentType: 'application/json; charset=utf-8',
      headers: { 'x-request-id': 'abc-1', 'x-required': 'yes' },
    });
    assertMatchesOpenApi(document, {
      method: 'get',
      path,
      status: 404,
      contentType: 'application/problem+json',
      body: { type: 'urn:x', title: 'User not found', status: 404, detail: 'No user', code: 'user_not_found' },
    });
    assertMatchesOpenApi(document, { method: 'GET', path: '/healthz', status: 204, body: undefined, contentType: null });
  });

  test('lists every mismatch of a body that breaks the schema', () => {
    const problems = findOpenApiMismatches(document, {
      method: 'GET',
      path,
      status: 200,
      body: { user_id: 'not-a-uuid', balance: 12.5, extra: true },
    });
    assert.equal(problems.length, 3, problems.join('\n'));
    assert.ok(problems.some((p) => p.includes('/user_id') && p.includes('uuid')));
    assert.ok(problems.some((p) => p.includes('/balance') && p.includes('string')));
    assert.ok(problems.some((p) => p.includes('additional properties')));

    assert.throws(
      () => assertMatchesOpenApi(document, { method: 'GET', path, status: 200, body: { user_id: userId } }),
      (error: unknown) => error instanceof AssertionError && /must have required property 'balance'/.test(error.message),
    );
  });

  test('refuses a problem whose code belongs to another status', () => {
    const problems = findOpenApiMismatches(document, {
      method: 'GET',
      path,
      status: 404,
      contentType: 'application/problem+json',
      body: { type: 'urn:x', title: 'x', status: 404, detail: 'x', code: 'insufficient_funds' },
    });
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0] ?? '', /\/code must be equal to one of the allowed values/);
  });

  test('refuses undocumented statuses, paths, methods and content types', () => {
    const sample = { method: 'GET', path, body: {} };
    assert.match(findOpenApiMismatches(document, { ...sample, status: 418 }).join(), /status 418 is not documented/);
    assert.match(findOpenApiMismatches(document, { ...sample, path: '/nope', status: 200 }).join(), /no path \/nope/);
    assert.match(findOpenApiMismatches(document, { ...sample, method: 'POST', status: 200 }).join(), /no POST/);
    assert.match(
      findOpenApiMismatches(document, { ...sample, status: 200, contentType: 'text/html' }).join(),
      /content type text\/html is not documented/,
    );
    assert.match(
      findOpenApiMismatches(document, { method: 'GET', path: '/healthz', status: 204, body: { a: 1 } }).join(),
      /has a body but none is documented/,
    );
  });

  test('checks documented headers when the response headers are given', () => {
    const body = { user_id: userId, balance: '1.00' };
    const missing = findOpenApiMismatches(document, { method: 'GET', path, status: 200, body, headers: new Headers() });
    assert.deepEqual(missing, ['GET /users/{user_id}/balance 200: required header X-Required is missing']);
    const wrong = findOpenApiMismatches(document, {
      method: 'GET',
      path,
      status: 200,
      body,
      headers: new Headers({ 'X-Required': 'no', 'X-Request-Id': 'has spaces' }),
    });
    assert.equal(wrong.length, 2, wrong.join('\n'));
  });

  test('problemResponse refuses a code documented under the wrong status', () => {
    assert.throws(() => problemResponse(400, 'x', ['user_not_found']), /user_not_found has status 404, not 400/);
  });
});
