import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import pg from 'pg';
import { OUTBOX_NOTIFY_CHANNEL } from '@wallet/platform';
import { countRows, createTestDatabase, createUsers, type Pipeline, requestJson, scrapeMetric, spawnRelayProcess, startPipeline, startUserServiceHarness, waitFor, waitForUsersInTransactionService } from '@wallet/platform/testkit';
import type { RunningOutboxRelay } from '../src/start-relay';

let p: Pipeline;

before(async () => {
  p = await startPipeline();
});
after(async () => {
  await p.stop();
});

/**
 * The tests share one pipeline, so each counts only its own users' rows (an outbox row's
 * aggregate_id is its user): a row another test left behind, or a failed test's backlog, changes
 * no assertion here.
 */
const unpublished = (userIds: readonly string[]) =>
  countRows(p.users.db, 'outbox', (q) => void q.whereNull('published_at').whereIn('aggregate_id', userIds));
const allUnpublished = () => countRows(p.users.db, 'outbox', (q) => void q.whereNull('published_at'));
const usersInTransactionService = (userIds: readonly string[]) => countRows(p.tx.db, 'users', (q) => void q.whereIn('user_id', userIds));
async function eventsProcessed(userIds: readonly string[]): Promise<number> {
  const events = p.users.db('outbox').select('event_id').whereIn('aggregate_id', userIds);
  const eventIds = ((await events) as Array<{ event_id: string }>).map((row) => row.event_id);
  return countRows(p.tx.db, 'processed_events', (q) => void q.whereIn('event_id', eventIds));
}

describe('outbox relay under failure', () => {
  test('Kafka unreachable: users are still created (201), nothing is lost, all arrive once Kafka is back', async () => {
    const deadRelay = await p.startRelay({ KAFKA_BROKERS: '127.0.0.1:1' });
    let liveRelay: RunningOutboxRelay;
    const userIds: string[] = [];
    try {
      // Whatever backlog an earlier test left: no relay that can publish runs while this one waits.
      const backlogBefore = await allUnpublished();
      userIds.push(...(await createUsers(p.users.url, 30, 'kafka-down')));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.equal(await unpublished(userIds), 30, 'nothing is marked published while Kafka is unreachable');
      assert.equal(await usersInTransactionService(userIds), 0);
      // The relay is alive (healthz) and says why it waits: not ready, because Kafka is not there.
      assert.equal(await scrapeMetric(deadRelay.url, 'outbox_backlog_events'), backlogBefore + 30);
      assert.equal((await requestJson(`${deadRelay.url}/healthz`)).status, 200);
      const ready = await requestJson<{ checks: Record<string, string> }>(`${deadRelay.url}/readyz`);
      assert.equal(ready.status, 503);
      assert.deepEqual(ready.body.checks, { postgres: 'ok', 'postgres-money-events': 'ok', kafka: 'unavailable' });
      // More users while it keeps failing (its first Kafka attempt gives up after a few retries).
      userIds.push(...(await createUsers(p.users.url, 10, 'kafka-still-down')));
      await waitFor(async () => (((await scrapeMetric(deadRelay.url, 'outbox_relay_failures_total')) ?? 0) >= 1 ? true : undefined), {
        what: 'the relay to report the Kafka failure',
      });
      assert.equal(await unpublished(userIds), 40);
      assert.equal(await usersInTransactionService(userIds), 0);
    } finally {
      // A relay that can reach Kafka comes up (as it would when Kafka returns); the dead one goes.
      [liveRelay] = await Promise.all([p.startRelay(), deadRelay.stop()]);
    }
    try {
      await waitForUsersInTransactionService(p.tx.db, userIds);
      assert.equal(await unpublished(userIds), 0);
      assert.equal(await usersInTransactionService(userIds), 40);
      assert.equal(await eventsProcessed(userIds), 40);
    } finally {
      // Each test starts the relays it needs and stops them, so any test runs alone.
      await liveRelay.stop();
    }
  });

  test('the outbox table does not exist yet when the relay starts: it waits, then relays', async () => {
    const database = await createTestDatabase('us');
    const relay = await p.startRelay({}, database);
    let otherUsers: Awaited<ReturnType<typeof startUserServiceHarness>> | undefined;
    try {
      await waitFor(
        async () => (((await scrapeMetric(relay.url, 'outbox_relay_failures_total', { reason: 'outbox_missing' })) ?? 0) >= 1 ? true : undefined),
        { what: 'the relay to notice the missing outbox table' },
      );
      // user-service starts later and creates the table (its migration), then a user.
      otherUsers = await startUserServiceHarness({}, { database });
      const userIds = await createUsers(otherUsers.url, 3, 'late-table');
      await waitForUsersInTransactionService(p.tx.db, userIds);
    } finally {
      await relay.stop();
      await otherUsers?.stop();
      await database.drop();
    }
  });

  test('a relay killed mid-batch loses nothing: the next one publishes the rest, each user arrives once', async (t) => {
    // A backlog first, so the first relay has work in flight when it is killed. Only the child
    // processes relay here: no in-process relay runs between tests.
    const userIds = await createUsers(p.users.url, 300, 'killed');
    const total = userIds.length;
    // Batches of one: the first relay is almost always between a send and its commit when killed.
    const first = spawnRelayProcess({ ...p.relayEnv, RELAY_BATCH_SIZE: '1' });
    const exited = once(first, 'exit');
    const publishedAtKill = await waitFor(
      async () => {
        const left = await unpublished(userIds);
        return left <= 250 ? total - left : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 5, what: 'the first relay to publish something' },
    );
    first.kill('SIGKILL');
    await exited;
    const leftAfterKill = await unpublished(userIds);
    t.diagnostic(`killed after ${publishedAtKill} published; ${leftAfterKill} left unpublished`);
    assert.ok(leftAfterKill > 0, `the relay was killed with work left (${leftAfterKill} unpublished, ${publishedAtKill} published)`);

    // Errors reach this test's output: a shutdown step that fails says which and why.
    const second = spawnRelayProcess({ ...p.relayEnv, RELAY_BATCH_SIZE: '50', LOG_LEVEL: 'error' });
    try {
      await waitForUsersInTransactionService(p.tx.db, userIds, 30_000);
      await waitFor(async () => ((await unpublished(userIds)) === 0 ? true : undefined), { what: 'an empty backlog' });
    } finally {
      second.kill('SIGTERM');
      const [code, signal] = (await once(second, 'exit')) as [number | null, NodeJS.Signals | null];
      assert.equal(code, 0, `the relay shuts down cleanly on SIGTERM (exit code ${code}, signal ${signal})`);
    }
    // Each user once (user_id is the key) and each event processed once.
    assert.equal(await usersInTransactionService(userIds), 300);
    assert.equal(await eventsProcessed(userIds), 300);
  });
});

describe('relay wake-ups', () => {
  test('NOTIFY wakes the relay at once, also after its LISTEN connection was killed', async () => {
    // A poll interval far beyond the waits below: only a notification can explain a prompt arrival.
    const relay = await p.startRelay({ RELAY_POLL_INTERVAL_MS: '600000' });
    const listenerPid = async (): Promise<number | undefined> => {
      const result = await p.users.db.raw<{ rows: Array<{ pid: number }> }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'outbox-relay-listener'`,
      );
      return result.rows[0]?.pid;
    };
    try {
      const firstPid = await waitFor(listenerPid, { what: 'the relay to LISTEN' });
      await new Promise((resolve) => setTimeout(resolve, 300)); // let it go idle
      const [early] = await createUsers(p.users.url, 1, 'notified');
      await waitForUsersInTransactionService(p.tx.db, [early!], 5_000);

      await p.users.db.raw('SELECT pg_terminate_backend(?)', [firstPid]);
      await waitFor(async () => {
        const pid = await listenerPid();
        return pid !== undefined && pid !== firstPid ? pid : undefined;
      }, { what: 'the listener to reconnect' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const [late] = await createUsers(p.users.url, 1, 'notified-after-reconnect');
      await waitForUsersInTransactionService(p.tx.db, [late!], 5_000);
    } finally {
      await relay.stop();
    }
  });
});

describe('user-service without the relay', () => {
  test('keeps answering 201 and the outbox rows wait, with a notification per insert', async () => {
    // A user-service of its own, on its own database, that no relay reads: its rows wait for
    // good, and go with its database, so the pipeline the other tests share never sees them.
    const alone = await startUserServiceHarness();
    const connection = new pg.Client({ connectionString: alone.database.url });
    try {
      await connection.connect();
      const notifications: string[] = [];
      connection.on('notification', (message) => notifications.push(message.channel));
      await connection.query(`LISTEN ${OUTBOX_NOTIFY_CHANNEL}`);
      const userIds = await createUsers(alone.url, 3, 'no-relay');
      await waitFor(() => Promise.resolve(notifications.length >= 3 ? true : undefined), { what: 'NOTIFY per created user' });
      assert.equal(await countRows(alone.db, 'outbox', (q) => void q.whereNull('published_at').whereIn('aggregate_id', userIds)), 3);
      assert.equal(await countRows(alone.db, 'outbox', (q) => void q.whereNotNull('published_at')), 0);
    } finally {
      await connection.end();
      await alone.stop();
    }
  });
});
