import { createReadStream } from 'node:fs';
import { dirname, join } from 'node:path';
import Router from '@koa/router';

/** The parts of an OpenAPI 3.1 document this code relies on; the rest is passed through untouched. */
export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; [key: string]: unknown };
  paths: Record<string, Record<string, unknown>>;
  components?: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

/**
 * The Swagger UI files the page needs, with their content types. A fixed list (not a static
 * directory) so no other file of node_modules can ever be served.
 */
const SWAGGER_UI_ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

// Everything the page loads comes from this service: no CDN, so the docs work offline and a
// strict policy (no inline script) applies. Swagger UI sets inline styles and shows data: images.
const DOCS_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
].join('; ');

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function docsPage(title: string): string {
  return `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>${escapeHtml(title)} — API docs</title>
    <link rel="stylesheet" type="text/css" href="/docs/swagger-ui.css">
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="/docs/favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js" charset="utf-8"></script>
    <script src="/docs/swagger-initializer.js" charset="utf-8"></script>
  </body>
</html>
`;
}

// A separate script rather than an inline one, so the page's policy can forbid inline scripts.
// BaseLayout: no top bar, so the page shows this service's document and cannot be pointed at another.
const SWAGGER_INITIALIZER = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    validatorUrl: null,
  });
});
`;

/**
 * Serves the service's OpenAPI document at GET /openapi.json and a Swagger UI page at GET /docs,
 * with Swagger UI's own files taken from the installed swagger-ui-dist package.
 */
export function createApiDocsRouter(document: OpenApiDocument): Router {
  // Resolved here, not at import, so a process that never serves docs (the outbox relay) does not
  // need swagger-ui-dist installed just because it imports @wallet/platform.
  const assetsDir = dirname(require.resolve('swagger-ui-dist/package.json'));
  const documentJson = JSON.stringify(document);
  const page = docsPage(document.info.title);
  const router = new Router();

  router.get('/openapi.json', (ctx) => {
    ctx.type = 'application/json; charset=utf-8';
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = documentJson;
  });

  router.get('/docs', (ctx) => {
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Content-Security-Policy', DOCS_CONTENT_SECURITY_POLICY);
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = page;
  });

  router.get('/docs/swagger-initializer.js', (ctx) => {
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = SWAGGER_INITIALIZER;
  });

  for (const [file, contentType] of Object.entries(SWAGGER_UI_ASSETS)) {
    router.get(`/docs/${file}`, (ctx) => {
      ctx.type = contentType;
      // The files change only with the installed package version, i.e. with a new deployment.
      ctx.set('Cache-Control', 'public, max-age=3600');
      ctx.body = createReadStream(join(assetsDir, file));
    });
  }

  return router;
}
