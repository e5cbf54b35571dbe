import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import { chromium, type Browser } from 'playwright-core';
import { closeServer, createApiDocsRouter, createHttpApp, createLogger, createMetricsRegistry, ERROR_CATALOG, listen, PROBLEM_CONTENT_TYPE, type OpenApiDocument } from '@wallet/platform';
import { findOpenApiMismatches, REPO_ROOT } from '@wallet/platform/testkit';
import { loadOpenApiDocument, SERVICE_DOCUMENTS } from './service-modules';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The API contract: every operation each service must document, and no other. */
const EXPECTED_OPERATIONS: Record<(typeof SERVICE_DOCUMENTS)[number], string[]> = {
  'user-service': ['POST /users', 'GET /balance', 'GET /healthz', 'GET /readyz', 'GET /metrics'],
  'transaction-service': [
    'POST /add-money',
    'POST /batch',
    'POST /transfer',
    'POST /holds',
    'POST /holds/{hold_id}/capture',
    'POST /holds/{hold_id}/void',
    'GET /holds/{hold_id}',
    'GET /users/{user_id}/holds',
    'GET /users/{user_id}/balance',
    'GET /users/{user_id}/statement',
    'GET /users/{user_id}/transactions',
    'GET /healthz',
    'GET /readyz',
    'GET /metrics',
  ],
};

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

function operationsOf(document: OpenApiDocument): Array<{ method: string; path: string; operation: Json }> {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
      .map(([method, operation]) => ({ method: method.toUpperCase(), path, operation: operation as Json })),
  );
}

function collectRefs(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => collectRefs(v, found));
  else if (isObject(value)) {
    if (typeof value.$ref === 'string') found.push(value.$ref);
    Object.values(value).forEach((v) => collectRefs(v, found));
  }
  return found;
}

function resolvePointer(document: OpenApiDocument, ref: string): unknown {
  return ref
    .slice(2)
    .split('/')
    .reduce<unknown>((node, key) => (isObject(node) ? node[key.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), document);
}

function deref(document: OpenApiDocument, value: unknown): unknown {
  return isObject(value) && typeof value.$ref === 'string' ? deref(document, resolvePointer(document, value.$ref)) : value;
}

interface DocsServer {
  server: Server;
  url: string;
}

async function startDocsServer(document: OpenApiDocument): Promise<DocsServer> {
  const serviceRouter = new Router();
  serviceRouter.get('/service-route', (ctx) => {
    ctx.body = { served: true };
  });
  const app = createHttpApp({
    logger: createLogger({ service: 'api-docs-test', level: 'silent' }),
    metrics: createMetricsRegistry('api-docs-test'),
    router: serviceRouter,
    readinessChecks: {},
    bodyLimitBytes: 1_024,
    apiDocs: createApiDocsRouter(document),
  });
  const server = await listen(app, 0, '127.0.0.1');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

for (const service of SERVICE_DOCUMENTS) {
  describe(`${service} OpenAPI document`, () => {
    const document = loadOpenApiDocument(service);

    test('documents exactly the contract, as OpenAPI 3.1', () => {
      assert.equal(document.openapi, '3.1.0');
      assert.equal(document.info.title, service);
      const operations = operationsOf(document).map((o) => `${o.method} ${o.path}`);
      assert.deepEqual([...operations].sort(), [...EXPECTED_OPERATIONS[service]].sort());
      const ids = operationsOf(document).map((o) => o.operation.operationId);
      assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
      assert.ok(ids.every((id) => typeof id === 'string' && id.length > 0), 'every operation has an operationId');
    });

    test('every $ref resolves', () => {
      const refs = collectRefs(document);
      assert.ok(refs.length > 0);
      for (const ref of refs) {
        assert.match(ref, /^#\//, `${ref} is local`);
        assert.notEqual(resolvePointer(document, ref), undefined, `${ref} resolves`);
      }
    });

    test('every error response is problem+json with codes of its own status', () => {
      for (const { method, path, operation } of operationsOf(document)) {
        for (const [status, raw] of Object.entries(operation.responses as Json)) {
          const response = deref(document, raw) as Json;
          assert.ok(typeof response.description === 'string', `${method} ${path} ${status} has a description`);
          // /readyz's 503 is a readiness report, not an error of the request.
          if (Number(status) < 400 || path === '/readyz') continue;
          const content = response.content as Json;
          assert.deepEqual(Object.keys(content), [PROBLEM_CONTENT_TYPE], `${method} ${path} ${status}`);
          const schema = (content[PROBLEM_CONTENT_TYPE] as Json).schema as Json;
          const codes = ((schema.properties as Json).code as Json).enum as Array<keyof typeof ERROR_CATALOG>;
          assert.ok(codes.length > 0);
          for (const code of codes) assert.equal(ERROR_CATALOG[code].status, Number(status), `${code} under ${status}`);
        }
      }
      const problem = (document.components?.schemas as Json).Problem as Json;
      const allCodes = ((problem.properties as Json).code as Json).enum;
      assert.deepEqual(allCodes, Object.keys(ERROR_CATALOG), 'the code enum is ERROR_CATALOG');
    });

    test('every example validates against its own schema', () => {
      let checked = 0;
      for (const { method, path, operation } of operationsOf(document)) {
        for (const [status, raw] of Object.entries(operation.responses as Json)) {
          const content = (deref(document, raw) as Json).content;
          if (!isObject(content)) continue;
          for (const [contentType, media] of Object.entries(content)) {
            if (!isObject(media) || media.example === undefined) continue;
            const problems = findOpenApiMismatches(document, {
              method,
              path,
              status: Number(status),
              body: media.example,
              contentType,
            });
            assert.deepEqual(problems, []);
            checked += 1;
          }
        }
      }
      assert.ok(checked > 0, 'the document has examples');
    });

    describe('served by createHttpApp', () => {
      let docs: DocsServer;
      before(async () => {
        docs = await startDocsServer(document);
      });
      after(async () => {
        await closeServer(docs.server);
      });

      test('GET /openapi.json returns the document', async () => {
        const response = await fetch(`${docs.url}/openapi.json`);
        assert.equal(response.status, 200);
        assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
        assert.deepEqual(await response.json(), JSON.parse(JSON.stringify(document)));
      });

      test('GET /docs is a page that loads Swagger UI from this server only', async () => {
        const response = await fetch(`${docs.url}/docs`);
        assert.equal(response.status, 200);
        assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
        assert.match(response.headers.get('content-security-policy') ?? '', /script-src 'self'/);
        const html = await response.text();
        const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] ?? '');
        assert.ok(assets.length >= 4, html);
        for (const asset of assets) {
          assert.match(asset, /^\/docs\//, `${asset} is served by the service itself`);
          const file = await fetch(`${docs.url}${asset}`);
          assert.equal(file.status, 200, asset);
          assert.ok((await file.arrayBuffer()).byteLength > 0, asset);
        }
      });

      test('serves no other file and leaves the service routes alone', async () => {
        for (const path of ['/docs/package.json', '/docs/../package.json', '/docs/index.html', '/docs/absolute-path.js']) {
          const response = await fetch(`${docs.url}${path}`);
          assert.equal(response.status, 404, path);
          await response.arrayBuffer();
        }
        const route = await fetch(`${docs.url}/service-route`);
        assert.deepEqual(await route.json(), { served: true });
      });
    });
  });
}

describe('requests.http', () => {
  test('has an example request for every documented operation', () => {
    const bases: Record<string, (typeof SERVICE_DOCUMENTS)[number]> = {
      '{{users}}': 'user-service',
      '{{wallet}}': 'transaction-service',
    };
    const requests = [...readFileSync(join(REPO_ROOT, 'requests.http'), 'utf8').matchAll(/^(GET|POST) (\{\{\w+\}\})(\/[^\s?]*)/gm)].map(
      (m) => ({ service: bases[m[2] ?? ''], method: m[1] ?? '', path: m[3] ?? '' }),
    );
    for (const service of SERVICE_DOCUMENTS) {
      for (const operation of EXPECTED_OPERATIONS[service]) {
        const [method, template] = operation.split(' ') as [string, string];
        const pattern = new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`);
        assert.ok(
          requests.some((r) => r.service === service && r.method === method && pattern.test(r.path)),
          `requests.http shows ${service} ${operation}`,
        );
      }
    }
  });
});

describe('the /docs page in a real browser', () => {
  let browser: Browser | undefined;
  const servers: DocsServer[] = [];

  before(async () => {
    if (existsSync(CHROMIUM)) {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    }
  });
  after(async () => {
    await browser?.close();
    await Promise.all(servers.map((s) => closeServer(s.server)));
  });

  for (const service of SERVICE_DOCUMENTS) {
    test(`${service}: Swagger UI renders every endpoint`, async (t) => {
      if (!browser) {
        t.skip(`${CHROMIUM} is not installed (apt-get install chromium); the browser check did not run`);
        return;
      }
      const document = loadOpenApiDocument(service);
      const docs = await startDocsServer(document);
      servers.push(docs);
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error') pageErrors.push(message.text());
      });
      const outsideRequests: string[] = [];
      page.on('request', (request) => {
        if (!request.url().startsWith(docs.url) && !request.url().startsWith('data:')) outsideRequests.push(request.url());
      });
      try {
        await page.goto(`${docs.url}/docs`, { waitUntil: 'load' });
        await page.locator('.opblock-summary-path').first().waitFor({ timeout: 20_000 });
        const rendered: string[] = [];
        for (const block of await page.locator('.opblock').all()) {
          const method = (await block.locator('.opblock-summary-method').innerText()).trim();
          const path = await block.locator('.opblock-summary-path').getAttribute('data-path');
          rendered.push(`${method} ${path ?? ''}`);
        }
        assert.deepEqual([...rendered].sort(), [...EXPECTED_OPERATIONS[service]].sort());
        assert.match(await page.locator('.info .title').innerText(), new RegExp(service));
        assert.deepEqual(pageErrors, [], 'no script error or blocked resource');
        assert.deepEqual(outsideRequests, [], 'the page loads nothing from elsewhere');
      } finally {
        await page.close();
      }
    });
  }
});
