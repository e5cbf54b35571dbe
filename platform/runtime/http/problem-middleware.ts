import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { AppError } from '../errors/app-error';
import { isDatabaseUnavailable } from '../errors/error-fields';
import { toProblemResponse, writeResponse } from './problem-response';

/**
 * Maps an error thrown by koa-bodyparser / raw-body (which carry an HTTP status and a `type`)
 * to our closed set of codes. Anything else is not the client's fault.
 */
function fromBodyParserError(error: unknown): AppError | undefined {
  const e = error as { status?: unknown; type?: unknown; message?: unknown } | null;
  if (!e || typeof e.status !== 'number') return undefined;
  if (e.status === 413) return new AppError('payload_too_large', 'The request body exceeds the size limit');
  if (e.status === 415) return new AppError('unsupported_media_type', 'Unsupported content encoding or charset');
  if (e.status === 400) {
    if (e.type === 'request.aborted') return new AppError('validation_failed', 'The request was aborted');
    return new AppError('malformed_json', 'The request body is not valid JSON (an object is expected)');
  }
  return undefined;
}

/**
 * An outage of a dependency (PostgreSQL restarting, the pool exhausted past its acquire timeout)
 * is not a bug: answer 503 with Retry-After, so a client retries — safely, with its
 * Idempotency-Key — instead of treating it like a defect.
 */
function fromInfrastructureError(error: unknown): AppError | undefined {
  return isDatabaseUnavailable(error)
    ? new AppError('service_unavailable', 'The database is unavailable right now; retry (with the same Idempotency-Key)', {
        retryAfterSeconds: 1,
      })
    : undefined;
}

/**
 * What a client is told about a failure: an AppError as it is, a body-parser or infrastructure error
 * mapped to its code, anything else a generic 500 (logged with its stack, never shown). The error
 * middleware below and every response that carries several outcomes (POST /batch's items) use it,
 * so one failure reads the same wherever it is answered.
 */
export function toClientError(error: unknown, logger: Logger, context: Record<string, unknown>): AppError {
  const appError = error instanceof AppError ? error : (fromBodyParserError(error) ?? fromInfrastructureError(error));
  if (appError?.code === 'service_unavailable') logger.warn({ err: error, ...context }, 'dependency unavailable');
  if (appError) return appError;
  logger.error({ err: error, ...context }, 'unhandled error');
  return new AppError('internal_error', 'An internal error occurred; it has been logged');
}

/**
 * The one error handler, at the top of the chain: every failure becomes application/problem+json
 * with a stable `code`. Unknown errors are logged with their stack and answered with a generic 500;
 * no stack or internal message ever reaches a client.
 */
export function createProblemMiddleware(logger: Logger) {
  return async function problemMiddleware(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new AppError('not_found', `No route for ${ctx.method} ${ctx.path}`);
      }
      // @koa/router answers 405 for a known method the path lacks and 501 for a method it does not
      // know at all (TRACE, PROPFIND): both mean "not with this method" to the client.
      if ((ctx.status === 405 || ctx.status === 501) && (ctx.body === undefined || typeof ctx.body === 'string')) {
        throw new AppError('method_not_allowed', `${ctx.method} is not allowed on ${ctx.path}`);
      }
    } catch (error) {
      // Retry-After, when the error says when to retry, travels on it (toProblemResponse).
      writeResponse(ctx, toProblemResponse(toClientError(error, logger, { method: ctx.method, path: ctx.path })));
    }
  };
}
