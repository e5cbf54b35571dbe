/**
 * db/bench/transfer-batch.sql is a pgbench copy of the SQL one group-commit batch sends
 * (data-access/money-batch-repository.ts): the benchmark measures the engine only while the two
 * agree. pgbench needs a script of its own (it draws the batch in SQL), so the copy cannot be
 * generated; instead every clause that shapes the database's work — the tables and columns
 * written, the conflict target, the lock order, the CTEs and what the statement returns — is read
 * out of the repository's SQL here and must appear, as written, in the script.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@wallet/platform/testkit';

/** Where the SQL of each statement a batch of keyed transfers runs starts, in order (lookups of taken keys aside). */
const BATCH_STATEMENTS = ['export async function claimIdempotencyKeys(', 'export async function lockBalances(', 'const WRITE_MONEY_BATCH = '];

/** One line, single spaces, none inside parentheses' edges: layout is not shape. */
const normalise = (sql: string): string => sql.replace(/\s+/g, ' ').replace(/\( /g, '(').replace(/ \)/g, ')').trim();

/** The first SQL template literal after `marker` (a function's or a constant's) in the repository. */
function sqlOf(source: string, marker: string): string {
  const start = source.indexOf(marker);
  assert.ok(start >= 0, `money-batch-repository.ts has ${marker}`);
  const open = source.indexOf('`', start);
  const close = source.indexOf('`', open + 1);
  return normalise(source.slice(open + 1, close));
}

/** The clauses of a statement that decide what the database does. */
function shapeOf(sql: string): string[] {
  const clauses = [
    ...sql.matchAll(/INSERT INTO \w+ \([^)]*\)/g),
    ...sql.matchAll(/ON CONFLICT \([^)]*\) DO \w+/g),
    ...sql.matchAll(/RETURNING [\w.]+(, [\w.]+)*/g),
    ...sql.matchAll(/SELECT [\w, ]+ FROM users/g),
    ...sql.matchAll(/ORDER BY [\w, ]+ FOR NO KEY UPDATE/g),
    ...sql.matchAll(/(WITH|\),) \w+ AS \(/g),
    ...sql.matchAll(/\(SELECT \w+\([\w:]*\*?\) FROM \w+\) AS \w+/g),
    ...sql.matchAll(/pg_current_xact_id\(\)::text AS \w+/g),
  ].map((match) => match[0]);
  return [...clauses, ...updatesOf(sql)];
}

/** Each UPDATE's table and the columns it sets (the values differ: the script sets placeholders). */
function updatesOf(sql: string): string[] {
  return [...sql.matchAll(/UPDATE (\w+) \w+ SET (.*?) (?:FROM|WHERE) /g)].map(
    (update) => `UPDATE ${update[1]} ${[...(update[2] ?? '').matchAll(/(\w+) = /g)].map((m) => m[1]).join(' ')}`,
  );
}

test('db/bench/transfer-batch.sql runs the statements of a money batch as the repository writes them', () => {
  const repository = readFileSync(join(REPO_ROOT, 'transaction-service', 'src', 'data-access', 'money-batch-repository.ts'), 'utf8');
  const script = normalise(
    readFileSync(join(REPO_ROOT, 'db', 'bench', 'transfer-batch.sql'), 'utf8')
      .split('\n')
      .filter((line) => !line.trimStart().startsWith('--'))
      .join('\n'),
  );
  const scriptUpdates = updatesOf(script);
  let checked = 0;
  for (const name of BATCH_STATEMENTS) {
    const clauses = shapeOf(sqlOf(repository, name));
    assert.ok(clauses.length > 0, `${name}: its SQL has a recognisable shape`);
    for (const clause of clauses) {
      const found = clause.startsWith('UPDATE ') ? scriptUpdates.includes(clause) : script.includes(clause);
      assert.ok(found, `${name}: "${clause}" is not in db/bench/transfer-batch.sql; bring the script in step`);
      checked += 1;
    }
  }
  // Guards the extraction itself: a regex that silently stopped matching would pass anything.
  assert.ok(checked >= 20, `only ${checked} clauses compared`);
});
