import { STATUS_CODES } from 'node:http';
import type { Context } from 'koa';
import { PROBLEM_CONTENT_TYPE, toProblem, type AppError, type ProblemDetails } from '../errors/app-error';

/** An HTTP response as data: what every writer (Koa, a bare ServerResponse, a raw socket) sends. */
export interface HttpResponse<B = unknown> {
  status: number;
  headers: Record<string, string>;
  body: B;
}

/** The headers of every problem document, whoever writes it (a stored one included). */
export const PROBLEM_HEADERS: Readonly<Record<string, string>> = { 'Content-Type': PROBLEM_CONTENT_TYPE };

/**
 * The one way an error becomes a response: status and title from the catalog, the body rendered
 * by toProblem, and the headers the error travels with (Retry-After). The Koa error middleware,
 * the listener's own refusals (417, CONNECT, malformed HTTP) and the money presenter all start here.
 */
export function toProblemResponse(error: AppError): HttpResponse<ProblemDetails> {
  return { status: error.status, headers: { ...PROBLEM_HEADERS, ...error.headers }, body: toProblem(error) };
}

/** Writes a response through Koa. The body first: Koa sets a JSON body's type, the headers then win. */
export function writeResponse(ctx: Context, response: HttpResponse): void {
  ctx.status = response.status;
  ctx.body = response.body;
  ctx.set(response.headers);
}

/**
 * A problem response as the bytes of a whole HTTP/1.1 message, for a raw socket (no
 * ServerResponse exists) that is closed after it.
 */
export function serializeProblemResponse(error: AppError): string {
  const { status, headers, body } = toProblemResponse(error);
  const text = JSON.stringify(body);
  const lines = Object.entries({ ...headers, 'Content-Length': String(Buffer.byteLength(text)), Connection: 'close' }).map(
    ([name, value]) => `${name}: ${value}\r\n`,
  );
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${lines.join('')}\r\n${text}`;
}
