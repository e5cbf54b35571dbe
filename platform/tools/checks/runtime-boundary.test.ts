/**
 * Images contain only runtime code, and runtime code depends only on runtime code: checked
 * statically, like the compose file, because no Docker engine runs where the tests run.
 *
 * The boundary has three parts, each checked here:
 * - the Dockerfile copies only runtime sources into its build stage and only their compiled output
 *   into the image;
 * - the compile units an image builds (`tsc -b <service>`) reference only the platform's runtime
 *   library, and include only their src;
 * - runtime sources import nothing from the test kit, the tools or any test, and every package they
 *   import is a production dependency of their own workspace (the image installs only those).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { builtinModules } from 'node:module';
import ts from 'typescript';
import { REPO_ROOT } from '@wallet/platform/testkit';

const SERVICES = ['user-service', 'transaction-service', 'outbox-relay'] as const;

/** Every runtime compile unit: its directory, the workspace whose package.json declares its imports. */
const RUNTIME_UNITS = [
  { dir: 'platform/runtime', workspace: 'platform' },
  ...SERVICES.map((service) => ({ dir: `${service}/src`, workspace: service })),
];

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

interface TsConfig {
  include?: string[];
  references?: { path: string }[];
  compilerOptions?: { rootDir?: string; outDir?: string };
}

/** A tsconfig as TypeScript reads it (comments allowed). */
function readTsConfig(path: string): TsConfig {
  const parsed = ts.parseConfigFileTextToJson(path, read(path));
  assert.equal(parsed.error, undefined, `${path} parses`);
  return parsed.config as TsConfig;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir)).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(join(REPO_ROOT, path)).isDirectory()) return sourceFiles(path);
    return entry.endsWith('.ts') ? [path] : [];
  });
}

/** Every module specifier a file imports or re-exports (static and dynamic), read by the compiler's parser. */
function importsOf(path: string): string[] {
  const source = ts.createSourceFile(path, read(path), ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node)) {
      const [first] = node.arguments;
      const callee = node.expression;
      const loads =
        callee.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(callee) && callee.text === 'require') ||
        (ts.isPropertyAccessExpression(callee) && callee.name.text === 'resolve' && ts.isIdentifier(callee.expression) && callee.expression.text === 'require');
      if (loads && first && ts.isStringLiteral(first)) found.push(first.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
const packageName = (specifier: string) =>
  specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] ?? specifier);

const isBuiltin = (specifier: string) => specifier.startsWith('node:') || builtinModules.includes(packageName(specifier));

describe('images contain only runtime code', () => {
  const lines = read('Dockerfile').split('\n');
  const buildStage = lines.slice(0, lines.findIndex((l) => l.startsWith('FROM') && / AS runtime$/.test(l)));
  const runtimeStage = lines.slice(buildStage.length);
  const copies = (stage: string[]) =>
    stage.filter((l) => l.startsWith('COPY ')).map((l) => l.replace(/^COPY\s+/, '').split(/\s+/));

  test('the build stage copies manifests and runtime sources only', () => {
    const manifests = new Set(['package.json', 'package-lock.json', 'tsconfig.base.json', ...['platform', 'client', ...SERVICES].map((w) => `${w}/package.json`)]);
    const runtimeSources = new Set(['platform/runtime/', '${SERVICE}/tsconfig.json', '${SERVICE}/src/']);
    const sources = copies(buildStage).flatMap((args) => args.slice(0, -1));
    assert.ok(sources.length > 0);
    for (const source of sources) assert.ok(manifests.has(source) || runtimeSources.has(source), `build stage copies ${source}`);
    for (const wanted of runtimeSources) assert.ok(sources.includes(wanted), `build stage copies ${wanted}`);
    assert.ok(lines.includes('RUN npx tsc -b ${SERVICE}'), 'the image compiles only the service unit (and what it references)');
  });

  test('the runtime stage takes only the compiled runtime library and service', () => {
    const fromBuild = copies(runtimeStage).filter((args) => args[0] === '--from=build').map((args) => args.slice(1).join(' '));
    assert.deepEqual(fromBuild, [
      '/app/platform/dist/runtime platform/dist/runtime',
      '/app/${SERVICE}/dist/src ${SERVICE}/dist/src',
    ]);
    for (const args of copies(runtimeStage).filter((a) => a[0] !== '--from=build')) {
      assert.match(args[0] ?? '', /(^|\/)package(-lock)?\.json$/, `runtime stage copies only manifests from the context: ${args.join(' ')}`);
    }
    assert.ok(runtimeStage.some((l) => /npm ci --omit=dev --workspace \$\{SERVICE\} /.test(l)), 'production dependencies only');
  });

  test('.dockerignore keeps tests, the test kit and the tools out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const entry of ['**/test', 'platform/testkit', 'platform/tools']) assert.ok(ignored.includes(entry), entry);
  });
});

describe('runtime compile units reference only runtime code', () => {
  test('the platform runtime library references nothing and includes only itself', () => {
    const config = readTsConfig('platform/runtime/tsconfig.json');
    assert.deepEqual(config.references ?? [], []);
    assert.deepEqual(config.include, ['.']);
    assert.equal(config.compilerOptions?.outDir, '../dist/runtime');
  });

  for (const service of SERVICES) {
    test(`${service}: its unit compiles src only and references only the runtime library`, () => {
      const config = readTsConfig(`${service}/tsconfig.json`);
      assert.deepEqual(config.include, ['src']);
      assert.deepEqual(config.references, [{ path: '../platform/runtime' }]);
      assert.equal(config.compilerOptions?.outDir, 'dist/src');
    });
  }
});

describe('runtime sources import runtime code and declared production dependencies only', () => {
  for (const unit of RUNTIME_UNITS) {
    test(`${unit.dir}`, () => {
      const manifest = JSON.parse(read(`${unit.workspace}/package.json`)) as { name: string; dependencies?: Record<string, string> };
      const dependencies = new Set(Object.keys(manifest.dependencies ?? {}));
      const files = sourceFiles(unit.dir);
      assert.ok(files.length > 3, `${unit.dir} has sources`);
      const problems: string[] = [];
      for (const file of files) {
        for (const specifier of importsOf(file)) {
          if (isBuiltin(specifier)) continue;
          if (specifier.startsWith('.')) {
            // A relative import must stay inside the unit (no ../test, ../../platform/testkit, ...).
            const target = relative(join(REPO_ROOT, unit.dir), join(REPO_ROOT, file, '..', specifier));
            if (target.startsWith('..')) problems.push(`${file}: ${specifier} leaves ${unit.dir}`);
            continue;
          }
          if (specifier === '@wallet/platform') {
            if (!dependencies.has('@wallet/platform')) problems.push(`${file}: @wallet/platform is not a dependency`);
            continue;
          }
          if (specifier.startsWith('@wallet/')) {
            // The test kit (@wallet/platform/testkit) and other workspaces are never runtime imports.
            problems.push(`${file}: imports ${specifier}`);
            continue;
          }
          const name = packageName(specifier);
          if (!dependencies.has(name)) problems.push(`${file}: ${name} is not in ${unit.workspace}'s dependencies`);
        }
      }
      assert.deepEqual(problems, []);
    });
  }

  test('the platform test kit and tools declare what they import (as development dependencies)', () => {
    const manifest = JSON.parse(read('platform/package.json')) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
    const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.devDependencies ?? {}), '@wallet/platform']);
    const root = JSON.parse(read('package.json')) as { devDependencies?: Record<string, string> };
    // The workspace root holds the compiler and linter every unit is built with.
    const rootTools = new Set(Object.keys(root.devDependencies ?? {}));
    const problems: string[] = [];
    for (const dir of ['platform/testkit', 'platform/tools/bench', 'platform/tools/checks', 'platform/test']) {
      for (const file of sourceFiles(dir)) {
        for (const specifier of importsOf(file)) {
          if (isBuiltin(specifier) || specifier.startsWith('.')) continue;
          const name = packageName(specifier);
          if (!declared.has(name) && !rootTools.has(name)) problems.push(`${file}: ${name} is not declared by platform`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });
});

describe("no package imports another package's tests", () => {
  for (const service of SERVICES) {
    test(`${service}/test uses its own src, the runtime library, the test kit and declared packages`, () => {
      const manifest = JSON.parse(read(`${service}/package.json`)) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
      const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.devDependencies ?? {})]);
      const problems: string[] = [];
      for (const file of sourceFiles(`${service}/test`)) {
        for (const specifier of importsOf(file)) {
          if (!isBuiltin(specifier) && !specifier.startsWith('.') && !declared.has(packageName(specifier))) {
            problems.push(`${file}: ${packageName(specifier)} is not declared by ${service}`);
          }
          if (specifier.includes('/test/') || specifier.includes('dist/test')) problems.push(`${file}: ${specifier}`);
          if (specifier.startsWith('@wallet/') && !['@wallet/platform', '@wallet/platform/testkit'].includes(specifier)) {
            problems.push(`${file}: ${specifier}`);
          }
          if (specifier.startsWith('.') && relative(join(REPO_ROOT, service), join(REPO_ROOT, file, '..', specifier)).startsWith('..')) {
            problems.push(`${file}: ${specifier} leaves ${service}`);
          }
        }
      }
      assert.deepEqual(problems, []);
    });
  }
});
