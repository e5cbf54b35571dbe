/**
 * `make tail-events` (platform/tools/infra/tail-events.mjs): money events, one line each, read as
 * money-events-reader with a throwaway money-events-tail-* group; FROM=beginning starts at the oldest.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Producer } from 'kafkajs';
import { REPO_ROOT, setupTestMoneyEvents, teardownTestMoneyEvents, testKafka, uniqueName, waitFor } from '@wallet/platform/testkit';

interface TailEventsModule {
  formatMoneyEvent: (value: string, message?: { timestamp?: string; partition?: number; offset?: string }) => string;
}

const tailEvents = async (): Promise<TailEventsModule> =>
  (await import(pathToFileURL(join(REPO_ROOT, 'platform', 'tools', 'infra', 'tail-events.mjs')).href)) as TailEventsModule;

/** A balance change as the relay will publish it: CloudEvents JSON, `sequence` as its extension attribute. */
function moneyEvent(userId: string, sequence: number, amount: string, balanceAfter: string): string {
  return JSON.stringify({
    specversion: '1.0',
    id: randomUUID(),
    source: 'transaction-service',
    type: 'wallet.money.added',
    subject: userId,
    time: new Date().toISOString(),
    sequence: String(sequence),
    datacontenttype: 'application/json',
    data: { user_id: userId, amount, balance_after: balanceAfter },
  });
}

describe('tail-events: the line printed for an event', () => {
  test('time, type, user, sequence, amount and balance after; attributes found in data too; other bytes shown as they came', async () => {
    const { formatMoneyEvent } = await tailEvents();
    const line = formatMoneyEvent(moneyEvent('u-1', 7, '10.00', '110.00'));
    assert.match(line, /^\d{4}-\d\d-\d\dT\S+Z\s+wallet\.money\.added\s+user=u-1\s+seq=7\s+amount=10\.00\s+balance_after=110\.00$/);
    const inData = formatMoneyEvent(JSON.stringify({ type: 't', time: 'T', data: { user_id: 'u-2', sequence: 3, amount: '1.50' } }));
    assert.match(inData, /^T\s+t\s+user=u-2\s+seq=3\s+amount=1\.50\s+balance_after=-$/);
    assert.match(formatMoneyEvent('not json', { timestamp: '0', partition: 2, offset: '5' }), /^1970-01-01T00:00:00\.000Z {2}\(not JSON, partition 2 offset 5\) {2}not json$/);
  });
});

describe('make tail-events', () => {
  const topic = uniqueName('test-money-events');
  let relay: Producer;
  let tail: ChildProcess | undefined;
  let stdout = '';
  let stderr = '';

  before(async () => {
    await setupTestMoneyEvents({ topic, partitions: 1 });
    relay = testKafka('tail-events-relay', 'outbox-relay').producer({ idempotent: true, maxInFlightRequests: 1 });
    await relay.connect();
  });
  after(async () => {
    // Its own process group (make, then node): SIGTERM lets the tail leave its group; it exits within 5 s.
    const running = tail;
    if (running?.pid !== undefined && running.exitCode === null && running.signalCode === null) {
      let exited = false;
      running.once('exit', () => (exited = true));
      process.kill(-running.pid, 'SIGTERM');
      await waitFor(() => Promise.resolve(exited || undefined), { timeoutMs: 10_000, what: 'make tail-events to stop' });
    }
    await relay.disconnect();
    await teardownTestMoneyEvents({ topic });
  });

  test('FROM=beginning prints the events already there, then those that arrive, as money-events-reader with a throwaway group', async () => {
    const user = randomUUID();
    await relay.send({ topic, acks: -1, messages: [{ key: user, value: moneyEvent(user, 1, '10.00', '10.00') }] });
    // -o: never reinstall the dependencies from a test; the recipe is what runs.
    tail = spawn('make', ['--no-print-directory', '-o', 'node_modules/.package-lock.json', 'tail-events', 'FROM=beginning'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', KAFKA_TOPIC_MONEY_EVENTS: topic },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    tail.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    tail.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const lines = () => stdout.split('\n').filter(Boolean);
    const linesAtLeast = (n: number, what: string) =>
      waitFor(() => Promise.resolve(lines().length >= n ? true : undefined), { timeoutMs: 30_000, what: `${what} (stderr: ${stderr})` });

    await linesAtLeast(1, 'the event that was there before');
    assert.match(lines()[0] ?? '', new RegExp(`wallet\\.money\\.added\\s+user=${user}\\s+seq=1\\s+amount=10\\.00\\s+balance_after=10\\.00$`));
    assert.match(stderr, new RegExp(`${topic} as money-events-reader, group money-events-tail-[0-9a-f]{8}, from the oldest event`));

    await relay.send({ topic, acks: -1, messages: [{ key: user, value: moneyEvent(user, 2, '2.50', '12.50') }] });
    await linesAtLeast(2, 'the event that arrived while it ran');
    assert.match(lines()[1] ?? '', /seq=2\s+amount=2\.50\s+balance_after=12\.50$/);
  });
});
