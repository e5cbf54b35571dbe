/**
 * The Makefile's request targets against a real user-service: what a variable holds is sent as
 * typed and never runs as code, in make or in the shell.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countRows, REPO_ROOT, runToCompletion, startUserServiceHarness, type UserServiceHarness } from '@wallet/platform/testkit';

let h: UserServiceHarness;
let scratch: string;

before(async () => {
  h = await startUserServiceHarness();
  scratch = mkdtempSync(join(tmpdir(), 'wallet-make-'));
});
after(async () => {
  rmSync(scratch, { recursive: true, force: true });
  await h.stop();
});

/** Runs make asynchronously: the service under test answers from this same process. */
async function make(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await runToCompletion('make', ['--no-print-directory', ...args, `USER_URL=${h.url}`], { cwd: REPO_ROOT });
  return { status: code, stdout, stderr };
}

test("make create-user with an apostrophe in EMAIL creates exactly that user", async () => {
  const result = await make('create-user', "EMAIL=o'brien-1@example.com");
  assert.equal(result.status, 0, result.stderr);
  const created = JSON.parse(result.stdout) as { email: string; user_id: string };
  assert.equal(created.email, "o'brien-1@example.com");
  const row = (await h.db('users').where({ user_id: created.user_id }).first()) as { email: string } | undefined;
  assert.equal(row?.email, "o'brien-1@example.com");
});

test('nothing a variable holds runs as code, in make or in the shell', async () => {
  const users = await countRows(h.db, 'users');
  const marker = (name: string) => join(scratch, name);
  const attempts = [
    `EMAIL=$(shell touch ${marker('make-shell')})`,
    `EMAIL=x'; touch ${marker('quote-break')}; echo '@example.com`,
    `EMAIL=x"; touch ${marker('double-quote-break')}; echo "@example.com`,
    `EMAIL=$(touch ${marker('command-substitution')})@example.com`,
    `EMAIL=\`touch ${marker('backticks')}\`@example.com`,
  ];
  for (const attempt of attempts) {
    const result = await make('create-user', attempt);
    assert.equal(result.status, 0, `${attempt}: ${result.stderr}`);
    // Sent as typed: the service refuses it as an email, with its own problem+json.
    const answer = JSON.parse(result.stdout) as { code?: string; email?: string };
    assert.equal(answer.code, 'validation_failed', `${attempt}: ${result.stdout}`);
  }
  for (const name of ['make-shell', 'quote-break', 'double-quote-break', 'command-substitution', 'backticks']) {
    assert.equal(existsSync(marker(name)), false, `${name} ran`);
  }
  assert.equal(await countRows(h.db, 'users'), users);
});
