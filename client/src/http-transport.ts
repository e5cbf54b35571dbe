import http from 'node:http';
import https from 'node:https';

/**
 * One HTTP exchange over node:http with keep-alive connections. node:http rather than fetch: a
 * client that sends thousands of small requests spends about half the CPU per request, and a
 * bench's load generator shares its machine with the services it measures.
 */

export interface HttpExchange {
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  /** Serialised as JSON. */
  json?: unknown;
  /** No whole answer within this long: the exchange fails (and counts as a network error). */
  timeoutMs: number;
}

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export interface Transport {
  send(exchange: HttpExchange): Promise<HttpAnswer>;
  close(): void;
}

/** The transport of one client: its own agents, so closing it closes only its sockets. */
export function createHttpTransport(options: { maxSockets?: number } = {}): Transport {
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 256 };
  const agents = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };
  return {
    send: (exchange) => send(exchange, exchange.url.startsWith('https:') ? agents.https : agents.http),
    close: () => {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

function send(exchange: HttpExchange, agent: http.Agent): Promise<HttpAnswer> {
  const payload = exchange.json === undefined ? undefined : JSON.stringify(exchange.json);
  const headers: Record<string, string> = { accept: 'application/json', ...exchange.headers };
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  const request = (exchange.url.startsWith('https:') ? https.request : http.request)(exchange.url, { method: exchange.method, agent, headers });
  return new Promise<HttpAnswer>((resolve, reject) => {
    const timer = setTimeout(() => request.destroy(Object.assign(new Error(`no answer within ${exchange.timeoutMs} ms`), { code: 'ETIMEDOUT' })), exchange.timeoutMs);
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('aborted', () => reject(Object.assign(new Error('the response was cut off'), { code: 'ECONNRESET' })));
      response.on('end', () => {
        clearTimeout(timer);
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.end(payload);
  });
}
