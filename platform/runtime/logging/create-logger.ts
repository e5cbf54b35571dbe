import { AsyncLocalStorage } from 'node:async_hooks';
import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

interface RequestContext {
  requestId: string;
}

/**
 * Carries the request id through every await of a request, so that a log line written deep in a
 * service or repository (which never sees the Koa context) still names the request it serves.
 */
export const requestContext = new AsyncLocalStorage<RequestContext>();

export function createLogger(options: { service: string; level: string }): Logger {
  return pino({
    level: options.level,
    base: { service: options.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin() {
      const store = requestContext.getStore();
      return store ? { request_id: store.requestId } : {};
    },
    redact: { paths: ['*.password', '*.authorization', 'req.headers.authorization', '*.databaseUrl'], censor: '[redacted]' },
  });
}

/** Masks an email for info-level logs: "alice@example.com" -> "a***@example.com". */
export function maskEmail(email: string): string {
  const at = email.indexOf('@');
  if (at <= 0) return '***';
  return `${email[0] ?? ''}***${email.slice(at)}`;
}
