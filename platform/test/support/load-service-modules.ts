import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { OpenApiDocument } from '../../src/index';

/** The repository root, from platform/dist/test/support. */
export const REPO_ROOT = join(__dirname, '..', '..', '..', '..');

/**
 * Loads a service module from its compiled output. The platform package cannot import service code
 * at compile time (services depend on platform, not the reverse), and the whole workspace is built
 * before any test runs, so the compiled module is there to require.
 */
export function requireCompiled<T>(pkg: string, modulePath: string): T {
  const file = join(REPO_ROOT, pkg, 'dist', 'src', `${modulePath}.js`);
  if (!existsSync(file)) throw new Error(`${file} is missing: build the workspace first (npx tsc -b)`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as T;
}

export const SERVICE_DOCUMENTS = ['user-service', 'transaction-service'] as const;

export function loadOpenApiDocument(pkg: (typeof SERVICE_DOCUMENTS)[number]): OpenApiDocument {
  return requireCompiled<{ openApiDocument: OpenApiDocument }>(pkg, 'entry-points/http/openapi').openApiDocument;
}
