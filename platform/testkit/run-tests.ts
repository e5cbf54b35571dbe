/**
 * Runs every compiled test file with Node's test runner, one file at a time: the integration
 * tests share one PostgreSQL, Kafka and NATS, and two cores are better spent on one file's
 * hundreds of concurrent requests than on several files competing.
 * Pass paths (or substrings of paths) to run a subset: `node platform/dist/testkit/run-tests.js transfer`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './repo-root';

const root = REPO_ROOT;
// Each compiled test directory and the source directory it is compiled from: each workspace's
// tests, and the tools' repository-wide checks.
const testDirs: Array<{ compiled: string; source: string }> = [
  { compiled: 'platform/dist/test', source: 'platform/test' },
  { compiled: 'platform/dist/tools/checks', source: 'platform/tools/checks' },
  { compiled: 'user-service/dist/test', source: 'user-service/test' },
  { compiled: 'transaction-service/dist/test', source: 'transaction-service/test' },
  { compiled: 'outbox-relay/dist/test', source: 'outbox-relay/test' },
  { compiled: 'client/dist/test', source: 'client/test' },
];

/**
 * tsc never deletes output: a test file that was moved or removed leaves its compiled copy behind
 * in a checkout built before. Only compiled tests whose source still exists are run.
 */
function hasSource(dir: { compiled: string; source: string }, compiledFile: string): boolean {
  const path = relative(join(root, dir.compiled), compiledFile).replace(/\.js$/, '.ts');
  if (existsSync(join(root, dir.source, path))) return true;
  process.stderr.write(`skipping ${relative(root, compiledFile)}: its source is gone (stale build output)\n`);
  return false;
}

function findTests(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return findTests(path);
    return entry.endsWith('.test.js') ? [path] : [];
  });
}

const filters = process.argv.slice(2);
const files = testDirs
  .flatMap((dir) => findTests(join(root, dir.compiled)).filter((f) => hasSource(dir, f)))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

if (files.length === 0) {
  process.stderr.write('no test files found (did the build run?)\n');
  process.exit(1);
}

const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=1', '--test-timeout=300000', '--test-reporter=spec', ...files],
  { cwd: root, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
