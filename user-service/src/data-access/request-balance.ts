import { randomBytes } from 'node:crypto';
import { ErrorCode, Events, type Msg, type NatsConnection } from 'nats';
import {
  createErrorAggregator,
  declareMetrics,
  errorField,
  type BalanceReply,
  type BalanceReplyError,
  type BalanceRequest,
  type Logger,
  type MetricsRegistry,
} from '@wallet/platform';

/** What came back from transaction-service, or why nothing did. The domain decides what each means. */
export type BalanceRequestOutcome =
  | { kind: 'replied'; reply: BalanceReply }
  | { kind: 'no_responders' }
  /** BALANCE_MAX_OUTSTANDING requests are already waiting for a reply: not sent. */
  | { kind: 'overloaded' }
  | { kind: 'timeout' }
  | { kind: 'disconnected' }
  /** A reply for the user asked about that does not otherwise match the BalanceReply contract. */
  | { kind: 'invalid_reply'; detail: string }
  | { kind: 'failed'; detail: string };

export interface BalanceRequester {
  /** `asOf`: an instant as `toISOString()` spells it (the balance then); absent: the current balance. */
  requestBalance: (userId: string, asOf?: string) => Promise<BalanceRequestOutcome>;
  /** False while the NATS connection is down (reconnecting) or closed, or the reply inbox is gone. */
  isConnected: () => boolean;
  stop: () => void;
}

/** A reply is `{"ok":…,"error"/"balance":…,"user_id":"<uuid>"}`: anything much longer is not one. */
const MAX_REPLY_BYTES = 1_024;

interface Waiting {
  userId: string;
  asOf: string | undefined;
  timer: NodeJS.Timeout;
  resolve: (outcome: BalanceRequestOutcome) => void;
}

/**
 * Asks transaction-service for a balance over NATS request/reply.
 *
 * Reply subjects are unguessable: whoever holds user-service's NATS login can read its inbox and
 * have transaction-service answer, about any user, to any reply subject it names; nats.js's own
 * request() replies to one prefix plus a sequential token, so such a reply (say a `user_not_found`,
 * which reads as "0.00") could be raced into a real request. Each request
 * here replies to `<inbox prefix>.balance.<instance>.<128 random bits>`, and only a reply that names
 * the user asked about is taken; any other is discarded and the request keeps waiting. One wildcard
 * subscription per process serves every request (a map from token to the waiting request), rather
 * than request() with noMux, which costs a SUB and an UNSUB round at the server per request; the
 * map holds at most maxOutstanding entries, each removed by its reply or its timer.
 *
 * The connection state is tracked from the status stream: while NATS is away a request would be
 * buffered and only time out after BALANCE_TIMEOUT_MS, so we answer "disconnected" at once instead.
 */
export function createBalanceRequester(options: {
  nats: NatsConnection;
  subject: string;
  /** The login's reply inbox prefix (`_INBOX_<user>`), the only inbox the server lets it read. */
  inboxPrefix: string;
  timeoutMs: number;
  /** Requests waiting for a reply at once; one more is refused at once instead of queueing. */
  maxOutstanding: number;
  logger: Logger;
  metrics: MetricsRegistry;
}): BalanceRequester {
  const { nats, subject, timeoutMs, logger } = options;
  const metric = declareMetrics(options.metrics);
  const latency = metric.histogram(
    'balance_request_duration_seconds',
    'Latency of NATS balance requests to transaction-service, by outcome',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    ['outcome'],
  );
  const failures = metric.counter('balance_request_failures_total', 'NATS balance requests that got no usable reply, by reason', ['reason']);

  const inbox = createReplyInbox({ ...options, metric });
  metric.gaugeReading('balance_requests_outstanding', 'NATS balance requests sent and not yet answered', () => inbox.outstanding());

  let connected = true;
  const statusStream = nats.status();
  void (async () => {
    for await (const status of statusStream) {
      if (status.type === Events.Disconnect) connected = false;
      else if (status.type === Events.Reconnect) connected = true;
    }
  })().catch((error: unknown) => logger.warn({ err: error }, 'nats status stream ended'));

  const isConnected = (): boolean => connected && !nats.isClosed() && !nats.isDraining() && inbox.isOpen();

  async function requestBalance(userId: string, asOf?: string): Promise<BalanceRequestOutcome> {
    // Every waiting request holds a timer, an inbox entry and an HTTP request: their number is
    // bounded, so a slow or flooded transaction-service makes us fail fast rather than pile up.
    if (inbox.outstanding() >= options.maxOutstanding) {
      failures.inc({ reason: 'overloaded' });
      return { kind: 'overloaded' };
    }
    const started = process.hrtime.bigint();
    const outcome: BalanceRequestOutcome = isConnected() ? await inbox.send(subject, { userId, asOf }, timeoutMs) : { kind: 'disconnected' };
    latency.observe({ outcome: outcome.kind }, Number(process.hrtime.bigint() - started) / 1e9);
    if (outcome.kind !== 'replied') failures.inc({ reason: outcome.kind });
    return outcome;
  }

  return {
    requestBalance,
    isConnected,
    stop: () => {
      inbox.close();
      // The status stream is a QueuedIterator (it has stop()), though typed as a plain AsyncIterable.
      (statusStream as { stop?: () => void }).stop?.();
    },
  };
}

/**
 * The waiting requests and the one subscription their replies arrive on. A request is entered and
 * published in the same turn of the event loop, so the caller's bound check holds.
 */
function createReplyInbox(options: {
  nats: NatsConnection;
  inboxPrefix: string;
  logger: Logger;
  metric: ReturnType<typeof declareMetrics>;
}) {
  const { nats, logger } = options;
  const discarded = options.metric.counter(
    'balance_replies_discarded_total',
    'Messages on the balance reply inbox not taken as a reply, by reason (unknown_request: late or guessed; other_user, unattributed: not naming the user asked about; other_instant: not naming the instant asked about)',
    ['reason'],
  );
  const mismatches = createErrorAggregator(logger, { message: 'balance reply discarded: it does not name the user asked about' });
  // A random segment per process: replicas share the login's inbox prefix, and each must receive
  // only the replies to its own requests.
  const prefix = `${options.inboxPrefix}.balance.${randomBytes(8).toString('hex')}.`;
  const waiting = new Map<string, Waiting>();

  const settle = (token: string, outcome: BalanceRequestOutcome): void => {
    const entry = waiting.get(token);
    if (!entry) return;
    waiting.delete(token);
    clearTimeout(entry.timer);
    entry.resolve(outcome);
  };

  const onReply = (msg: Msg): void => {
    const token = msg.subject.slice(prefix.length);
    const entry = waiting.get(token);
    if (!entry) {
      discarded.inc({ reason: 'unknown_request' });
      return;
    }
    const read = readReply(msg, entry.userId, entry.asOf);
    if ('discard' in read) {
      discarded.inc({ reason: read.discard });
      mismatches.record(new Error(read.discard), { expected: entry.userId, got: read.got });
      return;
    }
    settle(token, read.outcome);
  };

  const subscription = nats.subscribe(`${prefix}*`, {
    callback: (error, msg) => {
      if (error) logger.error({ err: error }, 'balance reply subscription failed');
      else onReply(msg);
    },
  });
  // The subscription ends with the connection (close, drain) or a refusal: nothing more can arrive.
  void subscription.closed.then(() => {
    for (const token of [...waiting.keys()]) settle(token, { kind: 'disconnected' });
  });

  const send = (subject: string, asked: { userId: string; asOf: string | undefined }, timeoutMs: number): Promise<BalanceRequestOutcome> =>
    new Promise((resolve) => {
      const { userId, asOf } = asked;
      const token = randomBytes(16).toString('hex');
      const timer = setTimeout(() => settle(token, { kind: 'timeout' }), timeoutMs);
      waiting.set(token, { userId, asOf, timer, resolve });
      try {
        const request: BalanceRequest = asOf === undefined ? { user_id: userId } : { user_id: userId, as_of: asOf };
        nats.publish(subject, JSON.stringify(request), { reply: `${prefix}${token}` });
      } catch (error) {
        settle(token, publishFailure(error, logger, subject));
      }
    });

  return {
    send,
    outstanding: () => waiting.size,
    isOpen: () => !subscription.isClosed(),
    close: () => {
      if (!subscription.isClosed()) subscription.unsubscribe();
      for (const token of [...waiting.keys()]) settle(token, { kind: 'disconnected' });
      mismatches.stop();
    },
  };
}

function publishFailure(error: unknown, logger: Logger, subject: string): BalanceRequestOutcome {
  const code = errorField(error, 'code');
  if (code === ErrorCode.ConnectionClosed || code === ErrorCode.Disconnect || code === ErrorCode.ConnectionDraining) {
    return { kind: 'disconnected' };
  }
  logger.error({ err: error, subject }, 'balance request failed');
  return { kind: 'failed', detail: error instanceof Error ? error.message : String(error) };
}

type ReadReply = { outcome: BalanceRequestOutcome } | { discard: 'other_user' | 'other_instant' | 'unattributed'; got?: string };

const REPLY_ERRORS: ReadonlySet<unknown> = new Set<BalanceReplyError>([
  'user_not_found',
  'invalid_request',
  'internal_error',
  'busy',
  'as_of_not_settled',
  'invalid_as_of',
]);

/**
 * A reply counts only if it names the user asked about, and the instant asked about (or none when
 * none was): one that names another user or instant, or no user (not JSON, too long, no user_id),
 * is not the answer to this request and is discarded. So a current balance is never taken for a
 * past one, nor the reverse.
 */
function readReply(msg: Msg, userId: string, asOf: string | undefined): ReadReply {
  const { data } = msg;
  // The server's own "no responders" status: no payload, status 503 (as nats.js request() reads it).
  if (data.length === 0 && msg.headers?.code === 503) return { outcome: { kind: 'no_responders' } };
  if (data.length > MAX_REPLY_BYTES) return { discard: 'unattributed' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch {
    return { discard: 'unattributed' };
  }
  if (typeof parsed !== 'object' || parsed === null) return { discard: 'unattributed' };
  const reply = parsed as Record<string, unknown>;
  if (typeof reply.user_id !== 'string') return { discard: 'unattributed' };
  // UUIDs compare case-insensitively; transaction-service echoes the lower-case canonical form.
  if (reply.user_id.toLowerCase() !== userId.toLowerCase()) return { discard: 'other_user', got: reply.user_id.slice(0, 64) };
  if (reply.as_of !== asOf) return { discard: 'other_instant', got: typeof reply.as_of === 'string' ? reply.as_of.slice(0, 64) : undefined };
  const instant = asOf === undefined ? {} : { as_of: asOf };
  if (reply.ok === true && typeof reply.balance === 'string') {
    const sequence = typeof reply.sequence === 'string' ? { sequence: reply.sequence } : {};
    // A transaction-service from before holds sends no available_balance: it had no holds, so it equals the balance.
    const available = typeof reply.available_balance === 'string' ? reply.available_balance : reply.balance;
    const balances = { balance: reply.balance, available_balance: available };
    return { outcome: { kind: 'replied', reply: { ok: true, user_id: userId, ...balances, ...instant, ...sequence } } };
  }
  if (reply.ok === false && REPLY_ERRORS.has(reply.error)) {
    return { outcome: { kind: 'replied', reply: { ok: false, error: reply.error as BalanceReplyError, user_id: userId, ...instant } } };
  }
  return { outcome: { kind: 'invalid_reply', detail: 'reply does not match the BalanceReply contract' } };
}
