import type { HttpListenerSettings } from '../config/process-settings';
import { createHttpApp, listenOn, type HttpAppOptions, type Listening } from './create-http-app';
import { createApiDocsRouter, type OpenApiDocument } from './serve-api-docs';

/**
 * A process's HTTP app (see createHttpApp) on its configured listener: HOST, PORT and
 * HTTP_BODY_LIMIT_BYTES; with GET /openapi.json and /docs when it has an OpenAPI document.
 */
export function serveHttp(
  config: HttpListenerSettings,
  options: Omit<HttpAppOptions, 'bodyLimitBytes' | 'apiDocs'> & { openApiDocument?: OpenApiDocument },
): Promise<Listening> {
  const { openApiDocument, ...app } = options;
  const apiDocs = openApiDocument && createApiDocsRouter(openApiDocument);
  return listenOn(createHttpApp({ ...app, bodyLimitBytes: config.httpBodyLimitBytes, apiDocs }), config);
}
