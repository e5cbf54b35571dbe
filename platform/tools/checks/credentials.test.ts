/**
 * platform/tools/infra/credentials.sh, which `make up`, `make infra` and `.ci/run` run first: it generates
 * the broker credentials into a private file once, keeps them, and hands each service only its own.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@wallet/platform/testkit';

const SCRIPT = join(REPO_ROOT, 'platform', 'tools', 'infra', 'credentials.sh');
const dir = mkdtempSync(join(tmpdir(), 'wallet-credentials-'));
const file = join(dir, 'credentials.env');
const run = (...args: string[]) =>
  execFileSync('bash', [SCRIPT, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', WALLET_CREDENTIALS_FILE: file } });
const values = () =>
  Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => /^[A-Z0-9_]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );

after(() => rmSync(dir, { recursive: true, force: true }));

describe('credentials.sh', () => {
  test('generates every variable once, into a file only its owner can read', () => {
    run('ensure');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const generated = values();
    assert.deepEqual(Object.keys(generated).sort(), run('variables').trim().split('\n').sort());
    for (const [name, value] of Object.entries(generated)) assert.match(value, /^[0-9a-f]{48}$/, name);
    assert.equal(new Set(Object.values(generated)).size, Object.keys(generated).length, 'all different');
    // A second run keeps them; a missing one is added without touching the others.
    run('ensure');
    assert.deepEqual(values(), generated);
    const { NATS_USER_SERVICE_PASSWORD: _dropped, ...rest } = generated;
    writeFileSync(file, Object.entries(rest).map(([k, v]) => `${k}=${v}\n`).join(''), { mode: 0o644 });
    run('ensure');
    const again = values();
    assert.deepEqual({ ...again, NATS_USER_SERVICE_PASSWORD: undefined }, { ...rest, NATS_USER_SERVICE_PASSWORD: undefined });
    assert.match(again.NATS_USER_SERVICE_PASSWORD ?? '', /^[0-9a-f]{48}$/);
    assert.notEqual(again.NATS_USER_SERVICE_PASSWORD, generated.NATS_USER_SERVICE_PASSWORD);
    assert.equal(statSync(file).mode & 0o777, 0o600, 'made private again');
  });

  test('gives each service only its own credentials', () => {
    const all = values();
    const envOf = (service: string) =>
      Object.fromEntries(
        run('env', service)
          .trim()
          .split('\n')
          .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
      );
    assert.deepEqual(envOf('user-service'), { NATS_PASSWORD: all.NATS_USER_SERVICE_PASSWORD });
    assert.deepEqual(envOf('transaction-service'), {
      NATS_PASSWORD: all.NATS_TRANSACTION_SERVICE_PASSWORD,
      KAFKA_SASL_PASSWORD: all.KAFKA_TRANSACTION_SERVICE_PASSWORD,
    });
    assert.deepEqual(envOf('outbox-relay'), { KAFKA_SASL_PASSWORD: all.KAFKA_OUTBOX_RELAY_PASSWORD });
    // money-events' read-only login (make tail-events), handed out the same way.
    assert.match(all.KAFKA_MONEY_EVENTS_READER_PASSWORD ?? '', /^[0-9a-f]{48}$/);
    assert.deepEqual(envOf('money-events-reader'), { KAFKA_SASL_PASSWORD: all.KAFKA_MONEY_EVENTS_READER_PASSWORD });
    // exec adds them to the command's environment, and nothing else from the file.
    const seen = run('exec', 'outbox-relay', 'env');
    assert.match(seen, new RegExp(`^KAFKA_SASL_PASSWORD=${all.KAFKA_OUTBOX_RELAY_PASSWORD}$`, 'm'));
    for (const value of Object.values(all).filter((v) => v !== all.KAFKA_OUTBOX_RELAY_PASSWORD)) {
      assert.ok(!seen.includes(value ?? ''), 'no other secret reaches the relay');
    }
  });
});
