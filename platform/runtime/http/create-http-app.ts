import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import Koa from 'koa';
import type { Context, Next } from 'koa';
import bodyParser from 'koa-bodyparser';
import Router from '@koa/router';
import type { Logger } from 'pino';
import client from 'prom-client';
import { parse as parseLosslessJson } from 'lossless-json';
import { JsonNumber } from '../contracts/json-number';
import { AppError, type ErrorCode } from '../errors/app-error';
import { errorField } from '../errors/error-fields';
import { requestContext } from '../logging/create-logger';
import { createProblemMiddleware } from './problem-middleware';
import { serializeProblemResponse, toProblemResponse } from './problem-response';

export type ReadinessCheck = () => Promise<void>;

export interface HttpAppOptions {
  logger: Logger;
  metrics: client.Registry;
  /** The service's own routes. */
  router: Router;
  /** Named dependency checks for GET /readyz; each throws when its dependency is unreachable. */
  readinessChecks: Record<string, ReadinessCheck>;
  bodyLimitBytes: number;
  /**
   * Body limits of particular paths (exact match, e.g. `{ '/batch': 1_048_576 }`), for the few
   * endpoints whose requests are lists; every other path keeps bodyLimitBytes.
   */
  pathBodyLimits?: Readonly<Record<string, number>>;
  /** Optional GET /openapi.json and /docs (see createApiDocsRouter), mounted before the service's routes. */
  apiDocs?: Router;
}

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);
const CHARSET_PARAMETER = /;\s*charset\s*=\s*"?([^";\s]+)/i;

/** Deepest nesting of objects and arrays a request body may have (ours have 1); deeper is 400 malformed_json. */
export const MAX_JSON_DEPTH = 32;

/**
 * True when `json` opens more than `limit` objects/arrays inside one another. A linear scan that
 * skips string contents; it runs only on text JSON.parse has already accepted.
 */
export function exceedsJsonDepth(json: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \\ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > limit) return true;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
  }
  return false;
}

export function createHttpApp(options: HttpAppOptions): Koa {
  const { logger, metrics } = options;
  const app = new Koa();
  app.proxy = false;
  // Koa's default error listener prints stacks to stderr; we log through pino instead.
  app.silent = true;

  app.use(createRequestContextMiddleware(logger, metrics));
  app.use(createProblemMiddleware(logger));
  app.use(requireJsonBody);
  app.use(createBodyParsers(options.bodyLimitBytes, options.pathBodyLimits ?? {}));
  app.use(keepExactNumbers);

  app.use(createSystemRouter(options).routes());
  if (options.apiDocs) app.use(options.apiDocs.routes());
  app.use(options.router.routes());
  app.use(options.router.allowedMethods());
  return app;
}

/**
 * Request id: accepted from the caller when well-formed, else generated; echoed back, and bound
 * to every log line written while serving the request. Also times the request for the latency
 * histogram, by route (the matched pattern, never the raw path: ids would explode the labels).
 */
function createRequestContextMiddleware(logger: Logger, metrics: client.Registry) {
  const httpDuration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [metrics],
  });
  return async function requestContextMiddleware(ctx: Context, next: Next): Promise<void> {
    const incoming = ctx.get('x-request-id');
    const requestId = REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
    ctx.set('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    await requestContext.run({ requestId }, async () => {
      try {
        await next();
      } finally {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
        httpDuration.observe({ method: ctx.method, route: String(route), status: String(ctx.status) }, seconds);
        logger.debug({ method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(seconds * 1000) }, 'request');
      }
    });
  };
}

/**
 * A body we would silently ignore is a client mistake: say so instead of acting on `{}`.
 * (Any method: GET /balance reads a body too.) The body is decoded as UTF-8 (JSON's only
 * interchange encoding); another declared charset would be silently misread.
 */
async function requireJsonBody(ctx: Context, next: Next): Promise<void> {
  const hasBody = METHODS_WITH_BODY.has(ctx.method) || (ctx.request.length ?? 0) > 0 || ctx.get('transfer-encoding') !== '';
  if (hasBody && !ctx.is('application/json')) {
    throw new AppError('unsupported_media_type', 'Send the body as application/json');
  }
  const charset = CHARSET_PARAMETER.exec(ctx.get('content-type'))?.[1]?.toLowerCase();
  if (hasBody && charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new AppError('unsupported_media_type', 'Send the body as UTF-8 (charset=utf-8)');
  }
  await next();
}

/** One body parser per limit: a path with a limit of its own gets its parser, every other path the default one. */
function createBodyParsers(defaultLimitBytes: number, pathLimits: Readonly<Record<string, number>>) {
  const fallback = createBodyParser(defaultLimitBytes);
  const byPath = new Map(Object.entries(pathLimits).map(([path, limit]) => [path, createBodyParser(limit)]));
  return async function bodyParserForPath(ctx: Context, next: Next): Promise<void> {
    await (byPath.get(ctx.path) ?? fallback)(ctx, next);
  };
}

/** koa-bodyparser for JSON only, within the size limit. */
function createBodyParser(bodyLimitBytes: number) {
  return bodyParser({
    enableTypes: ['json'],
    jsonLimit: `${bodyLimitBytes}b`,
    strict: true,
    onerror: (error: unknown) => {
      // raw-body's own errors carry an HTTP status (413, 415, 400) and are mapped by the problem
      // middleware; a body that fails to decompress (Content-Encoding gzip/deflate/br) arrives
      // as a bare zlib error, and is the client's mistake all the same.
      if (typeof (error as { status?: unknown } | null)?.status === 'number') throw error;
      throw new AppError('malformed_json', 'The request body could not be decoded with its Content-Encoding', { cause: error });
    },
  });
}

/**
 * Parses the body again, keeping every number's source text (see JsonNumber): bodyparser has
 * already enforced the size limit, the encoding and that the body is a JSON object or array.
 */
async function keepExactNumbers(ctx: Context, next: Next): Promise<void> {
  const raw = (ctx.request as { rawBody?: unknown }).rawBody;
  if (typeof raw === 'string' && raw.trim() !== '') {
    // The lossless parser recurses once per level: a body nested thousands deep would overflow
    // the stack (and its engine message would reach the client). No request of ours nests.
    if (exceedsJsonDepth(raw, MAX_JSON_DEPTH)) {
      throw new AppError('malformed_json', `The request body nests deeper than ${MAX_JSON_DEPTH} levels`);
    }
    try {
      (ctx.request as { body?: unknown }).body = parseLosslessJson(raw, null, (source) => new JsonNumber(source));
    } catch (error) {
      // Only what JSON.parse lets through and the stricter parser does not: a duplicate key,
      // whose two values would make the request ambiguous. Its message names the key and its
      // position (capped like every detail); any other failure is described, never quoted.
      const message = error instanceof SyntaxError && /^Duplicate key/.test(error.message) ? `: ${error.message}` : '';
      throw new AppError('malformed_json', `The request body is not acceptable JSON${message}`);
    }
  }
  await next();
}

/** GET /healthz (alive), /readyz (every dependency reachable) and /metrics (Prometheus). */
function createSystemRouter(options: Pick<HttpAppOptions, 'logger' | 'metrics' | 'readinessChecks'>): Router {
  const { logger, metrics } = options;
  const system = new Router();
  system.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  system.get('/readyz', async (ctx) => {
    const results: Record<string, string> = {};
    let ready = true;
    await Promise.all(
      Object.entries(options.readinessChecks).map(async ([name, check]) => {
        try {
          await check();
          results[name] = 'ok';
        } catch (error) {
          ready = false;
          results[name] = 'unavailable';
          logger.warn({ err: error, dependency: name }, 'readiness check failed');
        }
      }),
    );
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'not_ready', checks: results };
  });
  system.get('/metrics', async (ctx) => {
    ctx.type = metrics.contentType;
    ctx.body = await metrics.metrics();
  });
  return system;
}

export interface ListenOptions {
  /** Headers must be complete within this (default 10 s, as the README says). */
  headersTimeoutMs?: number;
  /** The whole request must be complete within this (default 30 s). */
  requestTimeoutMs?: number;
}

/**
 * How often Node checks for requests past headersTimeout/requestTimeout. Node checks every 30 s by
 * default, so a "10 s" header timeout fired anywhere between 10 and 40 s; checking every second
 * makes the 408 arrive within a second of the documented limit, for a negligible cost.
 */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;

/**
 * Listens on `host:port` (0 = any free port) and resolves once the server accepts connections.
 * The default host is the loopback: a network interface is exposed only when asked for (HOST).
 */
export async function listen(app: Koa, port: number, host = '127.0.0.1', options: ListenOptions = {}): Promise<Server> {
  // A client that never finishes its headers or body gives up its connection after these, not
  // after Node's defaults (60 s and 300 s).
  const server = createServer(
    {
      headersTimeout: options.headersTimeoutMs ?? 10_000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
    },
    app.callback(),
  );
  // An idle keep-alive connection is closed (a clean FIN, no response owed) after this; longer than
  // the usual 60 s of load balancers, so they close first and never reuse a closing connection.
  server.keepAliveTimeout = 65_000;
  server.on('clientError', answerClientError);
  // Without these listeners Node answers an unknown `Expect` with an empty 417 and drops a CONNECT
  // without a word; both get problem+json like every other refusal.
  server.on('checkExpectation', (_request: IncomingMessage, response: ServerResponse) => {
    const { status, headers, body } = toProblemResponse(new AppError('expectation_failed', 'Only "Expect: 100-continue" is supported'));
    const text = JSON.stringify(body);
    response.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(text), Connection: 'close' });
    response.end(text);
  });
  server.on('connect', (request: IncomingMessage, socket: Duplex) => {
    writeProblemAndClose(socket, new AppError('method_not_allowed', `${request.method ?? 'CONNECT'} is not allowed: this is not a proxy`));
  });
  // A deep accept backlog: a burst of thousands of simultaneous clients queues in the kernel
  // instead of waiting out SYN retransmits (Node's default backlog is 511).
  server.listen(port, host, 4096);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return server;
}

/**
 * Requests Node's HTTP parser refuses before Koa sees them (malformed request line or headers,
 * headers too large, a timeout) get problem+json like every other error, instead of Node's
 * empty response.
 */
function answerClientError(error: Error, socket: Duplex): void {
  const reason = errorField(error, 'code');
  if (reason === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [code, detail]: [ErrorCode, string] =
    reason === 'HPE_HEADER_OVERFLOW'
      ? ['headers_too_large', 'The request line or headers are too large']
      : reason === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ['request_timeout', 'The request did not arrive in time']
        : ['malformed_request', 'The request is not valid HTTP/1.1'];
  writeProblemAndClose(socket, new AppError(code, detail));
}

/** Writes a whole problem+json response on a raw socket (no ServerResponse exists) and closes it. */
function writeProblemAndClose(socket: Duplex, error: AppError): void {
  socket.end(serializeProblemResponse(error));
}

/** A started listener: the server, the port it got (PORT=0 picks a free one) and its loopback URL. */
export interface Listening {
  server: Server;
  port: number;
  url: string;
}

/** `listen` on a process's configured HOST and PORT, for the three processes' composition roots. */
export async function listenOn(app: Koa, settings: { host: string; port: number }): Promise<Listening> {
  const server = await listen(app, settings.port, settings.host);
  const { port } = server.address() as AddressInfo;
  return { server, port, url: `http://127.0.0.1:${port}` };
}

/** Stops accepting connections and waits for in-flight requests to finish. */
export async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeIdleConnections();
  });
}
