import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { Consumer } from 'kafkajs';
import { MONEY_EVENT_TYPES, type MoneyEvent, type MoneyEventType } from '@wallet/platform';
import {
  type Pipeline,
  REPO_ROOT,
  requestJson,
  startPipeline,
  testMoneyEventsGroup,
  testMoneyEventsReader,
  waitFor,
} from '@wallet/platform/testkit';
import { runReplayCli } from '../src/entry-points/replay-outbox';

/**
 * Money events end to end (ADR 10): transaction-service writes each change's event in the money's
 * own transaction, outbox-relay publishes it, and a consumer logged in as money-events-reader takes
 * it off Kafka. Every committed change has exactly one event (after dedup by id), refused and
 * replayed operations publish nothing, one user's sequence is 1..N in partition order, the
 * balance_after chain rebuilds each balance, and every message matches its JSON Schema.
 */
let p: Pipeline;
let consumer: Consumer;
/** Every message taken off the topic, in partition order (per key), duplicates included. */
const received: Array<{ key: string; event: MoneyEvent }> = [];
const schemas = loadSchemaValidators();

before(async () => {
  p = await startPipeline();
  consumer = testMoneyEventsReader().consumer({ groupId: testMoneyEventsGroup(), maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic: p.moneyEventsTopic, fromBeginning: true });
  await consumer.run({
    eachMessage: ({ message }) => {
      received.push({ key: message.key!.toString(), event: JSON.parse(message.value!.toString()) as MoneyEvent });
      return Promise.resolve();
    },
  });
});

after(async () => {
  await consumer.disconnect();
  await p.stop();
});

function loadSchemaValidators() {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  const dir = join(REPO_ROOT, 'platform', 'runtime', 'contracts', 'schemas');
  const compile = (type: MoneyEventType) => ajv.compile(JSON.parse(readFileSync(join(dir, `${type}.json`), 'utf8')) as object);
  return Object.fromEntries(Object.values(MONEY_EVENT_TYPES).map((type) => [type, compile(type)])) as Record<MoneyEventType, ReturnType<typeof compile>>;
}

async function createFundedUsers(count: number, amount: string): Promise<string[]> {
  const users = await p.tx.createUsers(count);
  for (const user of users) await p.tx.fund(user, amount);
  return users;
}

interface LedgerRow {
  id: string;
  user_id: string;
  sequence: string;
}

async function ledgerOf(users: string[]): Promise<LedgerRow[]> {
  const { rows } = await p.tx.db.raw<{ rows: LedgerRow[] }>(
    'SELECT id, user_id, sequence::text FROM transactions WHERE user_id = ANY(?::uuid[]) ORDER BY seq',
    [users],
  );
  return rows;
}

/** Waits until every ledger row of these users has arrived (by id), then returns their messages. */
async function eventsOf(users: string[], timeoutMs = 60_000): Promise<Array<{ key: string; event: MoneyEvent }>> {
  const ledger = await ledgerOf(users);
  const wanted = new Set(users);
  return waitFor(
    () => {
      const mine = received.filter((m) => wanted.has(m.key));
      const ids = new Set(mine.map((m) => m.event.id));
      return Promise.resolve(ledger.every((row) => ids.has(row.id)) ? mine : undefined);
    },
    { timeoutMs, what: `${ledger.length} money events` },
  );
}

/**
 * The consumer's view, as a downstream team would check it: first occurrences per user have
 * sequence 1, 2, 3, ... (in partition order), balance_after chains, and every message validates.
 * Returns each user's last balance_after and the number of duplicates seen.
 */
function checkStream(messages: Array<{ key: string; event: MoneyEvent }>): { balances: Map<string, string>; duplicates: number } {
  const seen = new Set<string>();
  const last = new Map<string, { sequence: bigint; balanceCents: bigint }>();
  let duplicates = 0;
  for (const { key, event } of messages) {
    const validate = schemas[event.type];
    assert.ok(validate(event), `${event.type} ${event.id}: ${JSON.stringify(validate.errors)}`);
    assert.equal(key, event.subject, 'the message key is the user');
    if (seen.has(event.id)) {
      duplicates += 1;
      continue;
    }
    seen.add(event.id);
    const before = last.get(key) ?? { sequence: 0n, balanceCents: 0n };
    assert.equal(BigInt(event.sequence), before.sequence + 1n, `${key}: sequence ${event.sequence} after ${before.sequence}`);
    const amount = cents(event.data.amount);
    // This test places no holds: every event is a credit or a debit.
    assert.ok('type' in event.data, `${event.type}: a money event`);
    const expected = before.balanceCents + (event.data.type === 'credit' ? amount : -amount);
    assert.equal(cents(event.data.balance_after), expected, `${key}: balance_after chains at sequence ${event.sequence}`);
    last.set(key, { sequence: BigInt(event.sequence), balanceCents: expected });
  }
  return { balances: new Map([...last].map(([user, state]) => [user, formatCents(state.balanceCents)])), duplicates };
}

const cents = (amount: string): bigint => BigInt(amount.replace('.', ''));
const formatCents = (value: bigint): string => `${value / 100n}.${(value % 100n).toString().padStart(2, '0')}`;

async function balanceOf(user: string): Promise<string> {
  return (await requestJson<{ balance: string }>(`${p.tx.url}/users/${user}/balance`)).body.balance;
}

describe('money events: user-service/transaction-service -> money outbox -> relay -> Kafka -> money-events-reader', () => {
  test('1,000 concurrent transfers with duplicated keys and refusals: one event per committed change, none for refused or replayed ones', async () => {
    const relay = await p.startRelay();
    try {
      const users = await createFundedUsers(20, '50.00');
      const unknown = '0190a3f8-7c1e-7b3a-9d2e-4f5a6b7c8d00';
      const requests = Array.from({ length: 1_000 }, (_, i) => {
        const from = users[i % users.length]!;
        const to = i % 50 === 0 ? unknown : users[(i * 7 + 3) % users.length]!;
        const amount = i % 13 === 0 ? '500.00' : `${(i % 9) + 1}.${String(i % 100).padStart(2, '0')}`;
        // Every fifth request is sent twice with the same key: one execution, one replay.
        const key = `ev-${i}-${users[0]}`;
        return { from, to, amount, key };
      });
      const responses = await Promise.all(
        [...requests, ...requests.filter((_, i) => i % 5 === 0)].map(async (r) =>
          requestJson(`${p.tx.url}/transfer`, {
            body: { from_user_id: r.from, to_user_id: r.to, amount_to_transfer: r.amount },
            headers: { 'Idempotency-Key': r.key },
          }),
        ),
      );
      assert.ok(responses.every((r) => r.status < 500), 'no 5xx');
      const refused = responses.filter((r) => r.status === 404 || r.status === 422).length;
      assert.ok(refused > 0, 'some transfers were refused (unknown user, insufficient funds, a reused key)');

      const messages = await eventsOf(users);
      const ledger = await ledgerOf(users);
      const ids = new Set(messages.map((m) => m.event.id));
      assert.equal(ids.size, ledger.length, 'exactly one event id per ledger row: nothing for refused or replayed operations');
      const { balances } = checkStream(messages);
      for (const user of users) assert.equal(balances.get(user), await balanceOf(user), `${user}: the events rebuild the balance`);
      const history = await requestJson<{ items: Array<{ id: string; sequence: string }> }>(`${p.tx.url}/users/${users[0]}/transactions?limit=100`);
      const bySequence = new Map(messages.filter((m) => m.key === users[0]).map((m) => [m.event.id, m.event.sequence]));
      for (const item of history.body.items) assert.equal(item.sequence, bySequence.get(item.id), 'the history item and its event carry the same sequence');
    } finally {
      await relay.stop();
    }
  });

  test('two relays at once, under load: each user’s events stay in sequence order on the partition', async () => {
    const users = await createFundedUsers(6, '100.00');
    const [first, second] = [await p.startRelay(), await p.startRelay()];
    try {
      const hot = [users[0]!, users[1]!];
      await Promise.all(
        Array.from({ length: 600 }, (_, i) =>
          requestJson(`${p.tx.url}/transfer`, {
            body: { from_user_id: i % 3 === 0 ? hot[i % 2] : users[i % 6], to_user_id: i % 3 === 0 ? hot[(i + 1) % 2] : users[(i + 1) % 6], amount_to_transfer: '0.10' },
          }),
        ),
      );
      const messages = await eventsOf(users);
      const { balances } = checkStream(messages);
      for (const user of users) assert.equal(balances.get(user), await balanceOf(user));
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
  });

  test('the relay stopped: events wait in the outbox, nothing is lost, and they drain in order when it is back', async () => {
    const users = await createFundedUsers(3, '30.00');
    await Promise.all(
      Array.from({ length: 90 }, (_, i) =>
        requestJson(`${p.tx.url}/transfer`, { body: { from_user_id: users[i % 3], to_user_id: users[(i + 1) % 3], amount_to_transfer: '0.25' } }),
      ),
    );
    const ledger = await ledgerOf(users);
    const { rows } = await p.tx.db.raw<{ rows: Array<{ waiting: string }> }>(
      'SELECT count(*)::text AS waiting FROM money_events_pending p JOIN transactions t ON t.seq = p.entry_seq WHERE t.user_id = ANY(?::uuid[])',
      [users],
    );
    assert.equal(rows[0]!.waiting, String(ledger.length), 'with no relay running, every event waits in the outbox');
    const relay = await p.startRelay();
    try {
      const { balances } = checkStream(await eventsOf(users));
      for (const user of users) assert.equal(balances.get(user), await balanceOf(user));
    } finally {
      await relay.stop();
    }
  });

  test('replay-money-events republishes a user’s events identically (same ids, same bodies); a consumer’s dedup absorbs them', async () => {
    const relay = await p.startRelay();
    try {
      const [user, other] = await createFundedUsers(2, '10.00');
      await requestJson(`${p.tx.url}/transfer`, { body: { from_user_id: user, to_user_id: other, amount_to_transfer: '4.00' } });
      const original = await eventsOf([user!]);
      const firstCopies = original.length;
      const out: string[] = [];
      const code = await runReplayCli(['--user-id', user!], p.relayEnv, { out: (t) => out.push(t), err: (t) => out.push(t) }, 'money-events');
      assert.equal(code, 0, out.join(''));
      assert.match(out.join(''), /requeued 2 event/);
      const again = await waitFor(
        () => Promise.resolve(received.filter((m) => m.key === user).length >= firstCopies * 2 ? received.filter((m) => m.key === user) : undefined),
        { what: 'the replayed events' },
      );
      const byId = new Map<string, string[]>();
      for (const m of again) byId.set(m.event.id, [...(byId.get(m.event.id) ?? []), JSON.stringify(m.event)]);
      for (const [id, copies] of byId) {
        assert.equal(copies.length, 2, `${id} published twice`);
        assert.equal(copies[0], copies[1], `${id}: the replayed event is byte for byte the first one`);
      }
      const { duplicates } = checkStream(again);
      assert.equal(duplicates, 2);
    } finally {
      await relay.stop();
    }
  });
});
