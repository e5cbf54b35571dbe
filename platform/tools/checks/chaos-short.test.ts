/**
 * The short form of `make chaos`, as CI runs it: the real compiled runner as a child process, with
 * every drill this machine can really perform. A drill it cannot perform (no pg_ctlcluster, Kafka
 * or NATS not started natively here) is reported as skipped with the reason, never faked.
 * CHAOS_* variables in the environment override the short sizes (e.g. CHAOS_RESTART_POSTGRES=0).
 * The PostgreSQL crash drills are off in the short form (SHORT_CHAOS_ENV says why) and reported as
 * skipped; with CHAOS_CRASH_POSTGRES=1 CHAOS_KILL_POSTGRES_BACKEND=1 they run and must pass.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHORT_CHAOS_ENV, type ChaosResult, type DrillResult } from '../bench/chaos-config';
import { detectBackendKill, detectKafkaOutage, detectNatsOutage, detectPostgresCrash, detectPostgresRestart } from '../bench/chaos-drills';
import { TEST_POSTGRES_URL, uniqueName } from '@wallet/platform/testkit';

const RUNNER = join(__dirname, '..', 'bench', 'run-chaos.js');

let exitCode: number | null = null;
let output = '';
let result: ChaosResult | undefined;
const unavailable = new Map<string, string>();

function runChaos(env: NodeJS.ProcessEnv): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUNNER], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-30_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
}

before(async () => {
  const postgres = detectPostgresRestart();
  const kafka = detectKafkaOutage();
  const nats = await detectNatsOutage();
  const crash = detectPostgresCrash();
  const backendKill = await detectBackendKill(TEST_POSTGRES_URL);
  if (!postgres.available) unavailable.set('restart-postgres', postgres.reason);
  if (!crash.available) unavailable.set('crash-postgres', crash.reason);
  if (!backendKill.available) unavailable.set('kill-postgres-backend', backendKill.reason);
  if (!kafka.available) unavailable.set('kafka-outage', kafka.reason);
  if (!nats.available) unavailable.set('nats-outage', nats.reason);

  const overrides = Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('CHAOS_')));
  const resultFile = join(tmpdir(), `${uniqueName('chaos-short')}.json`);
  exitCode = await runChaos({ ...process.env, ...SHORT_CHAOS_ENV, ...overrides, CHAOS_RESULT_FILE: resultFile });
  try {
    result = JSON.parse(readFileSync(resultFile, 'utf8')) as ChaosResult;
  } catch {
    // asserted below, with the runner's output
  } finally {
    rmSync(resultFile, { force: true });
  }
});

function drill(id: string): DrillResult {
  assert.ok(result, `the chaos runner wrote no result:\n${output}`);
  const found = result.drills.find((d) => d.id === id);
  assert.ok(found, `no drill ${id} in the result:\n${output}`);
  return found;
}

describe('make chaos (short form)', () => {
  test('exits 0: every drill that ran passed and every invariant holds', () => {
    assert.equal(exitCode, 0, output);
    assert.ok(result?.ok);
    for (const check of result.invariants) assert.ok(check.ok, `${check.name}: ${check.detail}`);
    assert.ok(result.invariants.length >= 8, 'the books were actually checked');
  });

  test('the money events are exactly the ledger: one per entry, in order, gapless, valid against the schemas', () => {
    assert.ok(result, `the chaos runner wrote no result:\n${output}`);
    const check = result.invariants.find((c) => c.name.startsWith('money events'));
    assert.ok(check, `no money-events check in the result:\n${output}`);
    assert.ok(check.ok, check.detail);
    assert.match(check.detail, /^\d+ events \(\d+ distinct, \d+ duplicates dropped by id\)/);
  });

  for (const k of [1, 2, 3]) {
    test(`transaction-service killed with SIGKILL and restarted under load (#${k})`, (t) => {
      const d = drill(`kill-transaction-service-${k}`);
      if (d.status === 'skipped') return t.skip(d.detail);
      assert.equal(d.status, 'passed', d.detail);
    });
  }

  for (const [id, what] of [
    ['restart-postgres', 'PostgreSQL restarted under load'],
    ['crash-postgres', 'PostgreSQL crashed under load (stop -m immediate, then start)'],
    ['kill-postgres-backend', 'a transaction_service backend killed with SIGKILL under load (postmaster resets every backend)'],
    ['kafka-outage', 'Kafka stopped while users are created: all arrive afterwards, exactly once'],
    ['nats-outage', 'NATS stopped while balances are read: quick 503s, no hang, recovery'],
  ] as const) {
    test(what, (t) => {
      const d = drill(id);
      if (unavailable.has(id)) {
        assert.equal(d.status, 'skipped', 'a drill this machine cannot run must not be reported as run');
        return t.skip(`cannot run here: ${unavailable.get(id)}`);
      }
      if (d.status === 'skipped') return t.skip(d.detail);
      assert.equal(d.status, 'passed', d.detail);
    });
  }
});
