import { createTestDatabase, type TestDatabase } from '../test-resources';
import { requestJson } from '../api-client';
import { serviceTestEnv, startServiceUnderTest, type ServiceUnderTest } from './service-env';
import assert from 'node:assert/strict';
import { loadUserServiceConfig, startUserService, type RunningUserService } from '@wallet/user-service';

export type UserServiceHarness = ServiceUnderTest<RunningUserService>;

/**
 * A real user-service in-process on its own database and NATS subject, on a free port.
 * Pass `database` to share one database between several instances (they migrate it once).
 */
export async function startUserServiceHarness(
  overrides: Record<string, string> = {},
  shared?: { database: TestDatabase },
): Promise<UserServiceHarness> {
  const database = shared?.database ?? (await createTestDatabase('us'));
  const env: Record<string, string> = { ...(await serviceTestEnv('user-service', 'user_service', database)), ...overrides };
  return startServiceUnderTest('user-service', startUserService, {
    config: loadUserServiceConfig(env),
    env,
    database,
    cleanUp: async () => {
      if (!shared) await database.drop();
    },
  });
}

export interface RawResponse {
  status: number;
  contentType: string;
  body: Record<string, unknown>;
}

/** GET with a JSON body (which fetch refuses to send); the body must be JSON. */
export async function getWithJsonBody(url: string, body: unknown): Promise<RawResponse> {
  const response = await requestJson<unknown>(url, { method: 'GET', body });
  if (typeof response.body !== 'object' || response.body === null) throw new Error(`not JSON: ${response.text}`);
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: response.body as Record<string, unknown> };
}

export function assertProblem(
  response: { status: number; contentType?: string; headers?: Headers; body: unknown },
  status: number,
  code: string,
): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  const contentType = response.contentType ?? response.headers?.get('content-type') ?? '';
  assert.match(contentType, /^application\/problem\+json/);
  const body = response.body as Record<string, unknown>;
  assert.equal(body.code, code, JSON.stringify(body));
  assert.equal(body.status, status);
  for (const field of ['type', 'title', 'detail']) assert.equal(typeof body[field], 'string');
  assert.doesNotMatch(JSON.stringify(body), /at .*\.js:\d+/);
}
