/**
 * The one HTTP client for the services' APIs, shared by the tests, the load generator and the
 * bench and chaos tools: real requests over the loopback, JSON in and out.
 *
 * It is node:http with a keep-alive agent rather than fetch, because the load generator shares the
 * machine's CPU with the system under test and fetch costs about twice as much per request; every
 * cycle it saves is one the services get. node:http also sends what fetch refuses to (a GET with a
 * JSON body, which GET /balance accepts).
 */
import http from 'node:http';

export interface JsonResponse<T = unknown> {
  status: number;
  headers: Headers;
  /** The body parsed as JSON; the raw text when it is not JSON; undefined when empty. */
  body: T;
  /** The body as received. */
  text: string;
}

export interface ApiRequest {
  /** Defaults to POST when there is a body, else GET (a GET may carry a body too). */
  method?: string;
  /** Sent as JSON, with content-type application/json unless `headers` names another. */
  body?: unknown;
  /** Sent as it is (text/plain unless `headers` names a content type), for malformed bodies. */
  rawBody?: string;
  headers?: Record<string, string>;
  /** Fails the request with a TimeoutError when no whole answer came within this time. */
  timeoutMs?: number;
}

const keepAliveAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

function withHeader(headers: Record<string, string>, name: string, value: string): Record<string, string> {
  const present = Object.keys(headers).some((key) => key.toLowerCase() === name);
  return present ? headers : { ...headers, [name]: value };
}

function toHeaders(raw: http.IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  }
  return headers;
}

function parseBody(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text; // keep the raw text: the assertion will show it
  }
}

/** One request; rejects only when no answer came (refused, reset, timed out). */
export function requestJson<T = Record<string, unknown>>(url: string, init: ApiRequest = {}): Promise<JsonResponse<T>> {
  let headers: Record<string, string> = { accept: '*/*', ...(init.headers ?? {}) };
  let payload: string | undefined;
  if (init.rawBody !== undefined) {
    payload = init.rawBody;
    headers = withHeader(headers, 'content-type', 'text/plain;charset=UTF-8');
  } else if (init.body !== undefined) {
    payload = JSON.stringify(init.body);
    headers = withHeader(headers, 'content-type', 'application/json');
  }
  if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
  const method = init.method ?? (payload !== undefined ? 'POST' : 'GET');
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, agent: keepAliveAgent, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: response.statusCode ?? 0, headers: toHeaders(response.headers), body: parseBody(text) as T, text });
      });
    });
    const timer =
      init.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            const error = new Error(`${method} ${url}: no answer within ${init.timeoutMs} ms`);
            error.name = 'TimeoutError';
            request.destroy(error);
          }, init.timeoutMs);
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.end(payload);
  });
}
