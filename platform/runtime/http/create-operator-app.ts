import Koa from 'koa';
import type Router from '@koa/router';
import type { Logger } from 'pino';
import { createProblemMiddleware } from './problem-middleware';

/**
 * The app behind an operators' listener (see ADR 7): only the given routes, errors as
 * problem+json like everywhere else, no request body read. It is meant to be bound to the
 * loopback (or a private admin network), never published with the public API.
 */
export function createOperatorApp(options: { logger: Logger; router: Router }): Koa {
  const app = new Koa();
  app.proxy = false;
  app.silent = true;
  app.use(createProblemMiddleware(options.logger));
  app.use(options.router.routes());
  app.use(options.router.allowedMethods());
  return app;
}
