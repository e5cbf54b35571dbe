import { ERROR_CATALOG, PROBLEM_CONTENT_TYPE, type ErrorCode } from '../errors/app-error';
import type { OpenApiDocument } from './serve-api-docs';

/**
 * Pieces every service's OpenAPI 3.1 document shares: the problem+json error shape (its `code`
 * enum built from ERROR_CATALOG, so a new code is documented the moment it exists), the request
 * id header and the system endpoints createHttpApp adds. References point into `components`, so a
 * document using them must spread `sharedComponents` into its own.
 */

export const ERROR_CODES = Object.keys(ERROR_CATALOG) as ErrorCode[];

const REF_PROBLEM = '#/components/schemas/Problem';
const REF_REQUEST_ID_HEADER = '#/components/headers/XRequestId';

export const sharedComponents = {
  schemas: {
    Problem: {
      type: 'object',
      description: 'RFC 9457 problem details. `code` is stable and meant for programs; `detail` is for people.',
      required: ['type', 'title', 'status', 'detail', 'code'],
      properties: {
        type: { type: 'string', examples: ['urn:problem-type:wallet:insufficient_funds'] },
        title: { type: 'string' },
        status: { type: 'integer', minimum: 400, maximum: 599 },
        detail: { type: 'string' },
        code: { type: 'string', enum: ERROR_CODES },
      },
    },
  },
  headers: {
    XRequestId: {
      description: 'The request id: the caller\'s X-Request-Id when well-formed, else a generated one. Every log line of the request carries it.',
      schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
    },
  },
  parameters: {
    XRequestId: {
      name: 'X-Request-Id',
      in: 'header',
      required: false,
      description: 'Optional correlation id, echoed back and written to every log line of the request.',
      schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
    },
  },
} as const;

export const requestIdHeader = { 'X-Request-Id': { $ref: REF_REQUEST_ID_HEADER } } as const;

/**
 * A problem+json response whose `code` can only be one of `codes`. Every code must map to `status`
 * in ERROR_CATALOG: documenting a code under the wrong status fails at load, not in a client.
 */
export function problemResponse(
  status: number,
  description: string,
  codes: readonly ErrorCode[],
  headers: Record<string, { $ref: string }> = requestIdHeader,
) {
  for (const code of codes) {
    if (ERROR_CATALOG[code].status !== status) {
      throw new Error(`error code ${code} has status ${ERROR_CATALOG[code].status}, not ${status}`);
    }
  }
  return {
    description: `${description} (code: ${codes.join(', ')})`,
    headers,
    content: {
      [PROBLEM_CONTENT_TYPE]: {
        schema: {
          allOf: [{ $ref: REF_PROBLEM }],
          properties: { status: { const: status }, code: { enum: [...codes] } },
        },
        example: {
          type: `urn:problem-type:wallet:${codes[0]}`,
          title: codes[0] ? ERROR_CATALOG[codes[0]].title : '',
          status,
          detail: codes[0] ? ERROR_CATALOG[codes[0]].title : '',
          code: codes[0],
        },
      },
    },
  };
}

/** Responses every JSON endpoint can give, whatever it does. */
export const commonErrorResponses = {
  '500': problemResponse(500, 'An unexpected error; it is logged with the request id', ['internal_error']),
  '503': problemResponse(503, 'The database is unavailable right now (Retry-After: 1); retry, with the same Idempotency-Key', [
    'service_unavailable',
  ]),
} as const;

/** Errors createHttpApp raises before a route runs, for endpoints that take a JSON body. */
export const jsonBodyErrorResponses = {
  '413': problemResponse(413, 'The body is larger than the configured limit', ['payload_too_large']),
  '415': problemResponse(415, 'The body is not application/json', ['unsupported_media_type']),
} as const;

/** GET /healthz, /readyz and /metrics, served by createHttpApp for every service. */
export const systemPaths = {
  '/healthz': {
    get: {
      tags: ['operations'],
      summary: 'Liveness: the process is up and serving HTTP',
      operationId: 'getHealth',
      responses: {
        '200': {
          description: 'Alive',
          headers: requestIdHeader,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['status'],
                properties: { status: { const: 'ok' } },
              },
            },
          },
        },
      },
    },
  },
  '/readyz': {
    get: {
      tags: ['operations'],
      summary: 'Readiness: every dependency (PostgreSQL, NATS, Kafka) answers',
      operationId: 'getReadiness',
      responses: {
        '200': readinessResponse('Ready', 'ready'),
        '503': readinessResponse('A dependency is unreachable; `checks` names it', 'not_ready'),
      },
    },
  },
  '/metrics': {
    get: {
      tags: ['operations'],
      summary: 'Prometheus metrics',
      operationId: 'getMetrics',
      responses: {
        '200': {
          description: 'Prometheus text exposition format',
          headers: requestIdHeader,
          content: { 'text/plain': { schema: { type: 'string' } } },
        },
      },
    },
  },
} as const;

function readinessResponse(description: string, status: 'ready' | 'not_ready') {
  return {
    description,
    headers: requestIdHeader,
    content: {
      'application/json': {
        schema: {
          type: 'object',
          required: ['status', 'checks'],
          properties: {
            status: { const: status },
            checks: {
              type: 'object',
              additionalProperties: { enum: ['ok', 'unavailable'] },
            },
          },
        },
      },
    },
  };
}

/** A reference to a schema of the document's `components.schemas`. */
export function schemaRef(name: string) {
  return { $ref: `#/components/schemas/${name}` } as const;
}

/** The optional X-Request-Id header every endpoint accepts (see sharedComponents.parameters). */
export const requestIdParameter = { $ref: '#/components/parameters/XRequestId' } as const;

/** A JSON request body of the named schema. */
export function jsonRequestBody(schemaName: string, options: { required?: boolean; description?: string } = {}) {
  return {
    required: options.required ?? true,
    ...(options.description === undefined ? {} : { description: options.description }),
    content: { 'application/json': { schema: schemaRef(schemaName) } },
  };
}

/** A successful JSON response of the named schema. */
export function jsonResponse(description: string, schemaName: string, headers: Record<string, { $ref: string }> = requestIdHeader) {
  return { description, headers, content: { 'application/json': { schema: schemaRef(schemaName) } } };
}

/** A JSON object with only the properties it lists (`additionalProperties: false`). */
export function closedObject<S extends { required?: readonly string[]; properties: Record<string, unknown> }>(schema: S) {
  return { type: 'object', additionalProperties: false, ...schema } as const;
}

/** Money in a response, in both services: a decimal string with exactly two decimals, never a JSON number. */
export const decimalAmountSchema = {
  type: 'string',
  pattern: '^\\d+\\.\\d{2}$',
  description: 'A decimal amount with exactly two decimals',
  examples: ['12.50'],
} as const;

/**
 * A service's whole document: what every service states the same way (OpenAPI version, the
 * servers "Try it out" may call, the operations tag, the system endpoints, the shared components)
 * around what is its own.
 */
export function serviceOpenApiDocument(service: {
  title: string;
  description: string;
  /** Where `docker compose` or a local run publishes it, e.g. http://localhost:3001. */
  localUrl: string;
  /** The tag of its own endpoints. */
  tag: { name: string; description: string };
  paths: Record<string, Record<string, unknown>>;
  components: {
    schemas: Record<string, unknown>;
    headers?: Record<string, unknown>;
    parameters?: Record<string, unknown>;
  };
}): OpenApiDocument {
  return {
    openapi: '3.1.0',
    info: { title: service.title, version: '1.0.0', description: service.description },
    // Relative first, so "Try it out" on /docs calls the server that serves the page.
    servers: [
      { url: '/', description: 'this server' },
      { url: service.localUrl, description: 'docker compose / local run' },
    ],
    tags: [service.tag, { name: 'operations', description: 'Health, readiness and metrics' }],
    paths: { ...service.paths, ...systemPaths },
    components: {
      schemas: { ...sharedComponents.schemas, ...service.components.schemas },
      headers: { ...sharedComponents.headers, ...service.components.headers },
      parameters: { ...sharedComponents.parameters, ...service.components.parameters },
    },
  };
}
