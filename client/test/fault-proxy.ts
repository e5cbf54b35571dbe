import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy does with one request: pass it on, answer a status itself, or cut the connection. */
export type Fault =
  | 'forward'
  /** Cut the connection before the service sees the request: nothing happened. */
  | 'reset-before'
  /** Pass the request on, wait for the service's whole answer, then cut the connection: it happened, the client never learns it. */
  | 'reset-after'
  | { status: 503 | 504; retryAfter?: number };

export interface SeenRequest {
  method: string;
  path: string;
  idempotencyKey: string | undefined;
  body: string;
  /** performance.now() when the request had fully arrived. */
  at: number;
  fault: Fault;
}

export interface FaultProxy {
  url: string;
  seen: SeenRequest[];
  /** Decides each request's fault; `nth` counts earlier requests to the same path (0 for the first). */
  plan: (request: { method: string; path: string; nth: number }) => Fault;
  close(): Promise<void>;
}

/**
 * A small HTTP proxy in front of a real service that injects what networks and gateways do: a 503
 * or 504 of its own, a connection reset before the request is passed on, or one after the service
 * answered (the operation happened; the answer is lost). Every request is recorded with its key.
 */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const perPath = new Map<string, number>();
  const proxy: FaultProxy = { url: '', seen: [], plan: () => 'forward', close: () => Promise.resolve() };
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = (request.url ?? '/').split('?')[0] ?? '/';
      const nth = perPath.get(path) ?? 0;
      perPath.set(path, nth + 1);
      const fault = proxy.plan({ method: request.method ?? 'GET', path, nth });
      const body = Buffer.concat(chunks);
      const key = request.headers['idempotency-key'];
      proxy.seen.push({ method: request.method ?? 'GET', path, idempotencyKey: typeof key === 'string' ? key : undefined, body: body.toString('utf8'), at: performance.now(), fault });
      if (fault === 'reset-before') {
        request.socket.destroy();
        return;
      }
      if (typeof fault === 'object') {
        const problem = JSON.stringify({ type: 'urn:problem-type:wallet:service_unavailable', title: 'injected', status: fault.status, detail: 'injected by the test proxy', code: fault.status === 503 ? 'service_unavailable' : 'balance_timeout' });
        response.writeHead(fault.status, { 'content-type': 'application/problem+json', ...(fault.retryAfter === undefined ? {} : { 'retry-after': String(fault.retryAfter) }) });
        response.end(problem);
        return;
      }
      forward(target, request, body, (status, headers, answer) => {
        if (fault === 'reset-after') request.socket.destroy();
        else {
          response.writeHead(status, headers);
          response.end(answer);
        }
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}

function forward(
  target: string,
  request: http.IncomingMessage,
  body: Buffer,
  done: (status: number, headers: http.IncomingHttpHeaders, answer: Buffer) => void,
): void {
  const headers = { ...request.headers };
  delete headers.host;
  const upstream = http.request(`${target}${request.url ?? '/'}`, { method: request.method, headers }, (answer) => {
    const parts: Buffer[] = [];
    answer.on('data', (chunk: Buffer) => parts.push(chunk));
    answer.on('end', () => done(answer.statusCode ?? 502, answer.headers, Buffer.concat(parts)));
  });
  upstream.on('error', () => request.socket.destroy());
  upstream.end(body);
}
