import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { countRows, countTopicMessages, createUsers, type Pipeline, requestJson, runReplayCliProcess, scrapeMetric, serviceCredentialsEnv, startPipeline, waitFor, waitForUsersInTransactionService } from '@wallet/platform/testkit';
import type { RunningOutboxRelay } from '../src/start-relay';
import { runReplayCli } from '../src/entry-points/replay-outbox';

let p: Pipeline;
let relay: RunningOutboxRelay;

before(async () => {
  p = await startPipeline();
  relay = await p.startRelay();
});
after(async () => {
  await p.stop();
});

interface OutboxRow {
  id: string;
  event_id: string;
  aggregate_id: string;
  created_at: Date;
  published_at: Date | null;
}

describe('user-created: user-service -> outbox -> relay -> Kafka -> transaction-service', () => {
  test('a created user is visible in transaction-service within seconds', async () => {
    const started = Date.now();
    const created = await requestJson<{ user_id: string; email: string }>(`${p.users.url}/users`, {
      body: { email: 'pipeline.first@example.com' },
    });
    assert.equal(created.status, 201);
    const userId = created.body.user_id;
    const balance = await waitFor(
      async () => {
        const response = await requestJson(`${p.tx.url}/users/${userId}/balance`);
        return response.status === 200 ? response.body : undefined;
      },
      { timeoutMs: 10_000, what: 'the user in transaction-service' },
    );
    const elapsedMs = Date.now() - started;
    assert.deepEqual(balance, { user_id: userId, balance: '0.00', available_balance: '0.00' });
    // NOTIFY wakes the relay: far below the 1 s poll interval on an idle machine.
    assert.ok(elapsedMs < 5_000, `took ${elapsedMs} ms`);

    // And the whole way back: user-service asks transaction-service over NATS.
    const funded = await requestJson(`${p.tx.url}/add-money`, { body: { user_id: userId, amount: '7.25' } });
    assert.equal(funded.status, 200, JSON.stringify(funded.body));
    const viaUserService = await requestJson(`${p.users.url}/balance?email=pipeline.first@example.com`);
    assert.deepEqual(viaUserService.body, { email: 'pipeline.first@example.com', balance: '7.25', available_balance: '7.25' });

    const row = await p.users.db<OutboxRow>('outbox').where({ aggregate_id: userId }).first();
    assert.ok(row?.published_at, 'the outbox row is marked published');
  });

  test('200 users created at once, with two relays running: 200 x 201, each arrives exactly once', async (t) => {
    const second = await p.startRelay();
    try {
      const startedAt = Date.now();
    const userIds = await createUsers(p.users.url, 200, 'burst');
    const createdMs = Date.now() - startedAt;
      assert.equal(new Set(userIds).size, 200);
      await waitForUsersInTransactionService(p.tx.db, userIds);
      t.diagnostic(`200 POSTs in ${createdMs} ms; all in transaction-service after ${Date.now() - startedAt} ms`);
      const outboxRows = await countRows(p.users.db, 'outbox');
      assert.equal(await countRows(p.users.db, 'outbox', (q) => void q.whereNull('published_at')), 0);
      assert.equal(await countRows(p.tx.db, 'users'), outboxRows);
      assert.equal(await countRows(p.tx.db, 'processed_events'), outboxRows);
      // SKIP LOCKED: the two relays never published the same row, so Kafka holds each event once.
      assert.equal(await countTopicMessages(p.topic), outboxRows);
      assert.ok(((await scrapeMetric(second.url, 'outbox_events_published_total')) ?? 0) > 0, 'both relays took a share');
      assert.ok(((await scrapeMetric(relay.url, 'outbox_events_published_total')) ?? 0) > 0, 'both relays took a share');
    } finally {
      await second.stop();
    }
  });

  test('relay metrics: backlog gauge and publish lag', async () => {
    assert.equal(await scrapeMetric(relay.url, 'outbox_backlog_events'), 0);
    assert.ok(((await scrapeMetric(relay.url, 'outbox_publish_lag_seconds_count')) ?? 0) > 0);
    const ready = await requestJson<{ checks: Record<string, string> }>(`${relay.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body.checks, { postgres: 'ok', 'postgres-money-events': 'ok', kafka: 'ok' });
    const address = relay.server.address();
    assert.ok(address !== null && typeof address === 'object');
    assert.equal(address.address, '127.0.0.1', 'the relay listens on the loopback by default (HOST)');
  });
});

describe('replay-outbox CLI', () => {
  const cliEnv = () => ({ ...serviceCredentialsEnv('outbox-relay'), DATABASE_URL: p.users.database.url, LOG_LEVEL: 'silent' });

  test('refuses an unbounded or malformed replay and changes nothing', async () => {
    const published = await countRows(p.users.db, 'outbox', (q) => void q.whereNotNull('published_at'));
    const cases: Array<[string[], RegExp]> = [
      [[], /at least one bound/],
      [['--since', 'last tuesday'], /since must be in ISO 8601 date format/],
      [['--user-id', 'not-a-uuid'], /userId must be a valid GUID/],
      [['--from-event-id', randomUUID()], /no outbox event has the id/],
      [['--since', '2030-01-02T00:00:00Z', '--until', '2030-01-01T00:00:00Z'], /--since must be before --until/],
      [['--everything'], /Unknown option/],
      [['--user-id'], /argument missing/],
    ];
    for (const [args, expected] of cases) {
      let stderr = '';
      const code = await runReplayCli(args, cliEnv(), { out: () => undefined, err: (text) => (stderr += text) });
      assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
      assert.match(stderr, expected);
    }
    // And as its own process, the way `make replay-outbox` runs it.
    const result = await runReplayCliProcess([], cliEnv());
    assert.equal(result.code, 2);
    assert.match(result.stderr, /usage: replay-outbox/);
    assert.equal(await countRows(p.users.db, 'outbox', (q) => void q.whereNotNull('published_at')), published);
  });

  test('a replayed event is delivered again and applied once', async () => {
    const [userId] = await createUsers(p.users.url, 1, 'replayed');
    await waitForUsersInTransactionService(p.tx.db, [userId!]);
    const event = await p.users.db<OutboxRow>('outbox').where({ aggregate_id: userId }).first();
    assert.ok(event?.published_at);
    const messagesBefore = await countTopicMessages(p.topic);
    const duplicatesBefore = (await scrapeMetric(p.tx.url, 'user_created_events_consumed_total', { outcome: 'duplicate' })) ?? 0;

    const result = await runReplayCliProcess(['--user-id', userId!], cliEnv());
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /requeued 1 event/);

    await waitFor(
      async () => (((await scrapeMetric(p.tx.url, 'user_created_events_consumed_total', { outcome: 'duplicate' })) ?? 0) > duplicatesBefore ? true : undefined),
      { what: 'transaction-service to receive the replayed event' },
    );
    assert.equal(await countTopicMessages(p.topic), messagesBefore + 1);
    const again = await p.users.db<OutboxRow>('outbox').where({ aggregate_id: userId }).first();
    assert.ok(again?.published_at && again.published_at > event.published_at, 'published again');
    assert.equal(await countRows(p.tx.db, 'users', (q) => void q.where({ user_id: userId })), 1);
    assert.equal(await countRows(p.tx.db, 'processed_events', (q) => void q.where({ event_id: event.event_id })), 1);
  });

  test('--from-event-id/--to-event-id and --since/--until select exactly their range', async () => {
    const userIds = await createUsers(p.users.url, 5, 'ranged');
    await waitForUsersInTransactionService(p.tx.db, userIds);
    const rows = await p.users.db<OutboxRow>('outbox').whereIn('aggregate_id', userIds).orderBy('id');
    const usersBefore = await countRows(p.tx.db, 'users');
    const messagesBefore = await countTopicMessages(p.topic);

    const byId = await runReplayCliProcess(['--from-event-id', rows[1]!.event_id, '--to-event-id', rows[3]!.event_id], cliEnv());
    assert.equal(byId.code, 0, byId.stderr);
    assert.match(byId.stdout, /requeued 3 event/);

    // A time window: rows created in [since, until). The rows just requeued are not published
    // now (or soon will be), so count only the published ones the window holds.
    await waitFor(
      async () => ((await countRows(p.users.db, 'outbox', (q) => void q.whereNull('published_at'))) === 0 ? true : undefined),
      { what: 'the id-range replay to be published' },
    );
    const since = rows[2]!.created_at;
    const until = new Date(Math.max(...rows.map((r) => r.created_at.getTime())) + 1);
    const inWindow = await countRows(p.users.db, 'outbox', (q) => void q.where('created_at', '>=', since).where('created_at', '<', until));
    assert.ok(inWindow >= 1);
    const byTime = await runReplayCliProcess(['--since', since.toISOString(), '--until', until.toISOString()], cliEnv());
    assert.equal(byTime.code, 0, byTime.stderr);
    assert.match(byTime.stdout, new RegExp(`requeued ${inWindow} event`));

    const none = await runReplayCliProcess(['--since', new Date(Date.now() + 60_000).toISOString()], cliEnv());
    assert.match(none.stdout, /requeued 0 event/);

    await waitFor(async () => ((await countTopicMessages(p.topic)) === messagesBefore + 3 + inWindow ? true : undefined), {
      what: 'the replayed events on the topic',
    });
    await waitFor(
      async () => ((await countRows(p.users.db, 'outbox', (q) => void q.whereNull('published_at'))) === 0 ? true : undefined),
      { what: 'the replayed rows to be published' },
    );
    assert.equal(await countRows(p.tx.db, 'users'), usersBefore);
  });
});
