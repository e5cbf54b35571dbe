/**
 * Whoever holds user-service's NATS login may read its reply inbox and publish balance requests
 * naming any reply subject: transaction-service then sends a genuine reply, about the user of the
 * attacker's choice, wherever the attacker said. Such a reply must never be taken for the answer
 * to a real request: reply subjects are unguessable (random per request), and a reply that does not
 * name the user asked about is discarded even on the right subject.
 *
 * Real NATS and two real transaction-service responders: `tx` answers user-service's requests, its
 * reads held (its users table locked) so a request stays in flight; `reflector`, on its own database
 * and a subject of its own, answers the attacker at once. It knows none of user-service's users, so
 * about the real user it says `user_not_found`, which user-service would turn into "0.00": the most
 * dangerous reply there is. Each refusal is checked against the counter of replies user-service
 * received and discarded (so the test cannot pass because nothing arrived), and paired with the
 * reflected reply that is taken when its subject is known and it names the right user.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import { createLogger, createMetricsRegistry, natsInboxPrefix, type MetricsRegistry } from '@wallet/platform';
import {
  requestJson,
  startTransactionServiceHarness,
  startUserServiceHarness,
  TEST_NATS_URL,
  testNatsLogin,
  type TransactionServiceHarness,
  type UserServiceHarness,
  waitFor,
} from '@wallet/platform/testkit';
import { createBalanceRequester, type BalanceRequestOutcome } from '../src/data-access/request-balance';

const TRUE_BALANCE = '12.34';
const email = 'forgery.target@example.com';

let h: UserServiceHarness;
let tx: TransactionServiceHarness;
let reflector: TransactionServiceHarness;
let attacker: NatsConnection;
let userId: string;

before(async () => {
  h = await startUserServiceHarness({ BALANCE_TIMEOUT_MS: '4000' });
  tx = await startTransactionServiceHarness({ BALANCE_SUBJECT: h.env.BALANCE_SUBJECT! });
  reflector = await startTransactionServiceHarness({ BALANCE_SUBJECT: `${h.env.BALANCE_SUBJECT!}.reflector` });
  attacker = await connect({ servers: TEST_NATS_URL, ...testNatsLogin('user-service') });
  const created = await requestJson<{ user_id: string }>(`${h.url}/users`, { body: { email } });
  assert.equal(created.status, 201);
  userId = created.body.user_id;
  await tx.db('users').insert({ user_id: userId, created_at: new Date() });
  await tx.fund(userId, TRUE_BALANCE);
});
after(async () => {
  await attacker.close();
  await reflector.stop();
  await tx.stop();
  await h.stop();
});

/** Makes transaction-service (the reflector) reply to `replySubject` with an answer about `user`. */
function reflect(replySubject: string, request: string): void {
  attacker.publish(reflector.env.BALANCE_SUBJECT!, request, { reply: replySubject });
}
const about = (user: string) => JSON.stringify({ user_id: user });

/**
 * Holds tx's balance reads (its users table locked) until released, so a request stays in flight
 * while the attacker acts; released well within the responder's 5 s statement timeout.
 */
async function holdBalanceReads(): Promise<{ release: () => Promise<void> }> {
  const trx = await tx.db.transaction();
  await trx.raw('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
  return { release: () => (trx.isCompleted() ? Promise.resolve() : trx.commit().then(() => undefined)) };
}

async function heldAtResponder(): Promise<void> {
  await waitFor(
    async () => {
      const metrics = String((await requestJson<string>(`${tx.url}/metrics`)).body);
      return /^nats_balance_requests_pending(?:\{[^}]*\})? 1$/m.test(metrics) ? true : undefined;
    },
    { what: 'the request held at the responder' },
  );
}

function discardedIn(metrics: string, reason: string): number {
  const line = new RegExp(`^balance_replies_discarded_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)$`, 'm').exec(metrics);
  return Number(line?.[1] ?? 0);
}

/** The token's last 32 bits moved by `delta`: the guesses a sequential token falls to. */
function nearToken(token: string, delta: number): string {
  const tail = (BigInt(`0x${token.slice(-8)}`) + BigInt(delta)) & 0xffffffffn;
  return token.slice(0, -8) + tail.toString(16).padStart(8, '0');
}

describe("GET /balance: a client with user-service's login cannot race a reply in", () => {
  test('replies it has sent to the subjects it can see or guess are discarded; the true balance comes back', async () => {
    // The attacker reads user-service's inbox (it may) and learns a real reply subject: the one of
    // the reply about this user (other test runs share the login and the inbox prefix).
    const seen: string[] = [];
    attacker.subscribe(`${natsInboxPrefix('user-service')}.>`, {
      callback: (_error, msg) => {
        if (msg.string().includes(userId)) seen.push(msg.subject);
      },
    });
    await attacker.flush();
    const first = await requestJson(`${h.url}/balance?email=${encodeURIComponent(email)}`);
    assert.deepEqual(first.body, { email, balance: TRUE_BALANCE, available_balance: TRUE_BALANCE });
    await waitFor(() => Promise.resolve(seen.length > 0 ? true : undefined), { what: 'the attacker to see a real reply' });
    const observed = seen[0]!;
    const instance = observed.slice(0, observed.lastIndexOf('.') + 1);
    const token = observed.slice(instance.length);
    assert.match(token, /^[0-9a-f]{32}$/, `a 128-bit random token: ${observed}`);

    const before = String((await requestJson<string>(`${h.url}/metrics`)).body);
    const hold = await holdBalanceReads();
    try {
      const inFlight = requestJson(`${h.url}/balance?email=${encodeURIComponent(email)}`);
      await heldAtResponder();
      // The replayed subject, the few hundred tokens "next to" it, random ones: each gets a genuine
      // user_not_found about the real user.
      const targets = [observed];
      for (let d = 1; d <= 150; d += 1) targets.push(instance + nearToken(token, d), instance + nearToken(token, -d));
      for (let i = 0; i < 100; i += 1) targets.push(instance + randomBytes(16).toString('hex'));
      for (const target of targets) reflect(target, about(userId));
      await attacker.flush();
      // Every one reached user-service (its inbox subscription counted it) and none was taken.
      await waitFor(
        async () => {
          const now = String((await requestJson<string>(`${h.url}/metrics`)).body);
          return discardedIn(now, 'unknown_request') - discardedIn(before, 'unknown_request') >= targets.length ? true : undefined;
        },
        { what: `${targets.length} reflected replies discarded by user-service` },
      );
      await hold.release();
      const response = await inFlight;
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.deepEqual(response.body, { email, balance: TRUE_BALANCE, available_balance: TRUE_BALANCE });
    } finally {
      await hold.release();
    }
  });
});

describe('the balance requester: even on the right reply subject, only a reply naming the user asked about is taken', () => {
  let metrics: MetricsRegistry;
  let natsForRequester: NatsConnection;
  /** Reply subjects the requester published with: what an attacker able to guess them would use. */
  const replySubjects: string[] = [];
  let requester: ReturnType<typeof createBalanceRequester>;

  before(async () => {
    natsForRequester = await connect({ servers: TEST_NATS_URL, ...testNatsLogin('user-service') });
    // A spy on the real connection: it records the reply subject, and publishes as before.
    const publish = natsForRequester.publish.bind(natsForRequester);
    natsForRequester.publish = (subject, payload, options) => {
      if (options?.reply) replySubjects.push(options.reply);
      publish(subject, payload, options);
    };
    metrics = createMetricsRegistry('forgery-test');
    requester = createBalanceRequester({
      nats: natsForRequester,
      subject: h.env.BALANCE_SUBJECT!,
      inboxPrefix: natsInboxPrefix('user-service'),
      timeoutMs: 4_000,
      maxOutstanding: 10,
      logger: createLogger({ service: 'forgery-test', level: 'silent' }),
      metrics,
    });
  });
  after(async () => {
    requester.stop();
    await natsForRequester.close();
  });

  const discarded = async (reason: string) => discardedIn(await metrics.metrics(), reason);

  /** A request held at the responder, and the exact subject its reply is expected on. */
  async function heldRequest(): Promise<{ outcome: Promise<BalanceRequestOutcome>; replySubject: string; release(): Promise<void> }> {
    const hold = await holdBalanceReads();
    const sent = replySubjects.length;
    const outcome = requester.requestBalance(userId);
    await heldAtResponder();
    assert.equal(replySubjects.length, sent + 1);
    return { outcome, replySubject: replySubjects[sent]!, release: () => hold.release() };
  }

  test('replies about another user, or naming none, are discarded and the request waits for the real one', async () => {
    const before = { other: await discarded('other_user'), none: await discarded('unattributed') };
    const held = await heldRequest();
    try {
      // user_not_found about a user nobody has; invalid_request, which names no user.
      for (const request of [about(randomUUID()), about(randomUUID()), 'garbage']) reflect(held.replySubject, request);
      await attacker.flush();
      await waitFor(
        async () => ((await discarded('other_user')) - before.other === 2 && (await discarded('unattributed')) - before.none === 1 ? true : undefined),
        { what: 'the three reflected replies discarded' },
      );
      await held.release();
      assert.deepEqual(await held.outcome, { kind: 'replied', reply: { ok: true, user_id: userId, balance: TRUE_BALANCE, available_balance: TRUE_BALANCE } });
    } finally {
      await held.release();
    }
  });

  test('paired: the same reflection about the right user, on the right subject, is taken, which is why the subject must be unguessable', async () => {
    const held = await heldRequest();
    try {
      reflect(held.replySubject, about(userId));
      await attacker.flush();
      // Taken before the real reply could come (tx's reads are still held): the false "not found".
      assert.deepEqual(await held.outcome, { kind: 'replied', reply: { ok: false, error: 'user_not_found', user_id: userId } });
    } finally {
      await held.release();
    }
    // The real reply then arrives for a request no longer waiting: counted, not taken.
    await waitFor(async () => ((await discarded('unknown_request')) >= 1 ? true : undefined), { what: 'the late real reply discarded' });
  });
});
