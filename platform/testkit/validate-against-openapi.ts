import assert, { AssertionError } from 'node:assert/strict';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { type OpenApiDocument } from '@wallet/platform';
import { requestJson, type JsonResponse } from './api-client';

export interface OpenApiResponseSample {
  /** HTTP method, any case. */
  method: string;
  /** The documented path template, e.g. '/users/{user_id}/balance'. */
  path: string;
  status: number;
  body: unknown;
  /** The response's Content-Type; parameters such as charset are ignored. Default application/json. */
  contentType?: string | null;
  /** When given, every documented header is checked: required ones must be present, present ones must match. */
  headers?: Headers | Record<string, string | undefined>;
}

type JsonObject = Record<string, unknown>;

interface CompiledDocument {
  ajv: Ajv2020;
  validators: Map<string, ValidateFunction>;
}

const compiled = new WeakMap<OpenApiDocument, CompiledDocument>();

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Follows a local `$ref` ('#/components/responses/X') until a non-reference object is reached. */
function deref(document: OpenApiDocument, value: unknown, seen = new Set<string>()): unknown {
  if (!isObject(value) || typeof value.$ref !== 'string') return value;
  const ref = value.$ref;
  if (!ref.startsWith('#/') || seen.has(ref)) throw new Error(`unresolvable $ref ${ref}`);
  seen.add(ref);
  let target: unknown = document;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    target = isObject(target) ? target[key] : undefined;
  }
  if (target === undefined) throw new Error(`$ref ${ref} points at nothing`);
  return deref(document, target, seen);
}

function compiledFor(document: OpenApiDocument): CompiledDocument {
  let entry = compiled.get(document);
  if (!entry) {
    // OpenAPI 3.1 schemas are JSON Schema 2020-12. strict off: OpenAPI adds keywords (example, ...).
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    entry = { ajv, validators: new Map() };
    compiled.set(document, entry);
  }
  return entry;
}

/**
 * Compiles a schema taken from the document with the document's components beside it, so its
 * '#/components/schemas/...' references resolve exactly as in the document.
 */
function validatorFor(document: OpenApiDocument, key: string, schema: JsonObject): ValidateFunction {
  const entry = compiledFor(document);
  let validate = entry.validators.get(key);
  if (!validate) {
    validate = entry.ajv.compile({ ...schema, components: document.components ?? {} });
    entry.validators.set(key, validate);
  }
  return validate;
}

function describeErrors(validate: ValidateFunction): string[] {
  return (validate.errors ?? []).map((e) => {
    const where = e.instancePath === '' ? '(root)' : e.instancePath;
    const params = Object.keys(e.params).length > 0 ? ` ${JSON.stringify(e.params)}` : '';
    return `${where} ${e.message ?? 'is not valid'}${params}`;
  });
}

function headerValue(headers: OpenApiResponseSample['headers'], name: string): string | undefined {
  if (!headers) return undefined;
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const found = Object.entries(headers).find(([key]) => key.toLowerCase() === name.toLowerCase());
  return found?.[1];
}

/** Collects every way a sample departs from the document; empty when it matches. */
export function findOpenApiMismatches(document: OpenApiDocument, sample: OpenApiResponseSample): string[] {
  const method = sample.method.toLowerCase();
  const pathItem = document.paths[sample.path];
  if (!pathItem) return [`the document has no path ${sample.path}`];
  const operation = deref(document, pathItem[method]);
  if (!isObject(operation)) return [`the document has no ${method.toUpperCase()} ${sample.path}`];
  const responses = isObject(operation.responses) ? operation.responses : {};
  const statusKey = String(sample.status);
  const response = deref(document, responses[statusKey] ?? responses[`${statusKey[0] ?? ''}XX`] ?? responses.default);
  const where = `${method.toUpperCase()} ${sample.path} ${sample.status}`;
  if (!isObject(response)) return [`${where}: status ${sample.status} is not documented`];

  const problems: string[] = [];
  const content = isObject(response.content) ? response.content : undefined;
  const contentType = sample.contentType === undefined ? 'application/json' : sample.contentType;
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase() ?? null;
  if (!content) {
    if (sample.body !== undefined && sample.body !== '' && sample.body !== null) {
      problems.push(`${where}: the response has a body but none is documented`);
    }
  } else if (mediaType === null || !isObject(content[mediaType])) {
    problems.push(`${where}: content type ${mediaType ?? '(none)'} is not documented (documented: ${Object.keys(content).join(', ')})`);
  } else {
    const media = content[mediaType];
    if (isObject(media.schema)) {
      const validate = validatorFor(document, `${where} ${mediaType}`, media.schema);
      if (!validate(sample.body)) {
        problems.push(...describeErrors(validate).map((e) => `${where} body: ${e}`));
      }
    }
  }

  if (sample.headers && isObject(response.headers)) {
    for (const [name, rawHeader] of Object.entries(response.headers)) {
      const header = deref(document, rawHeader);
      if (!isObject(header)) continue;
      const value = headerValue(sample.headers, name);
      if (value === undefined) {
        if (header.required === true) problems.push(`${where}: required header ${name} is missing`);
        continue;
      }
      if (isObject(header.schema)) {
        const validate = validatorFor(document, `${where} header ${name}`, header.schema);
        if (!validate(value)) problems.push(...describeErrors(validate).map((e) => `${where} header ${name}: ${e}`));
      }
    }
  }
  return problems;
}

/**
 * Asserts that a real response is what the OpenAPI document promises: the status is documented
 * for the operation, the content type is one it lists, and the body validates against its schema.
 * Throws an AssertionError listing every mismatch.
 */
export function assertMatchesOpenApi(document: OpenApiDocument, sample: OpenApiResponseSample): void {
  const problems = findOpenApiMismatches(document, sample);
  if (problems.length > 0) {
    throw new AssertionError({
      message: `response does not match the OpenAPI document:\n  - ${problems.join('\n  - ')}\nbody: ${JSON.stringify(sample.body)}`,
      actual: sample.body,
      operator: 'assertMatchesOpenApi',
    });
  }
}

/** One request of a contract test: the documented template it exercises and the concrete path sent. */
export interface ContractCall {
  /** Defaults to POST when there is a body, else GET. */
  method?: string;
  template: string;
  path: string;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
}

/**
 * Checks responses against the document and remembers which documented (operation, status) pairs
 * were seen, so a contract test can also prove it exercised every documented outcome.
 */
export class OpenApiContractRecorder {
  private readonly seen = new Set<string>();

  constructor(private readonly document: OpenApiDocument) {}

  /** Sends the request to the service at `baseUrl`, asserts its status, checks the response against the document. */
  async call(baseUrl: string, request: ContractCall, expectedStatus: number): Promise<JsonResponse> {
    const method = request.method ?? (request.body !== undefined || request.rawBody !== undefined ? 'POST' : 'GET');
    const response = await requestJson(`${baseUrl}${request.path}`, {
      method,
      ...(request.body !== undefined ? { body: request.body } : {}),
      ...(request.rawBody !== undefined ? { rawBody: request.rawBody } : {}),
      headers: request.headers ?? {},
    });
    assert.equal(response.status, expectedStatus, `${method} ${request.path}: ${JSON.stringify(response.body)}`);
    this.check({
      method,
      path: request.template,
      status: response.status,
      body: response.body,
      contentType: response.headers.get('content-type'),
      headers: response.headers,
    });
    return response;
  }

  check(sample: OpenApiResponseSample): void {
    assertMatchesOpenApi(this.document, sample);
    this.seen.add(`${sample.method.toUpperCase()} ${sample.path} ${sample.status}`);
  }

  /** The service at `baseUrl` serves exactly this document at /openapi.json, and the docs page at /docs. */
  async assertServesDocument(baseUrl: string): Promise<void> {
    const served = await requestJson(`${baseUrl}/openapi.json`);
    assert.equal(served.status, 200);
    assert.deepEqual(served.body, JSON.parse(JSON.stringify(this.document)));
    const page = await requestJson<unknown>(`${baseUrl}/docs`);
    assert.equal(page.status, 200);
    assert.match(page.text, /swagger-ui-bundle\.js/);
  }

  /** Documented '<METHOD> <path> <status>' entries no checked response had. */
  unexercised(): string[] {
    const documented = Object.entries(this.document.paths).flatMap(([path, item]) =>
      Object.entries(item).flatMap(([method, operation]) => {
        const responses = isObject(operation) && isObject(operation.responses) ? operation.responses : {};
        return Object.keys(responses).map((status) => `${method.toUpperCase()} ${path} ${status}`);
      }),
    );
    return documented.filter((entry) => !this.seen.has(entry));
  }
}
