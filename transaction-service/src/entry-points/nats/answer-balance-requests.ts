import Joi from 'joi';
import {
  BALANCE_QUEUE_GROUP,
  isAppError,
  parseRfc3339,
  BALANCE_REPLY_PREFIX,
  BATCH_SIZE_BUCKETS,
  createErrorAggregator,
  declareMetrics,
  uuidSchema,
  type BalanceReply,
  type BalanceReplyError,
  type ErrorCode,
  type Knex,
  type Logger,
  type MetricsRegistry,
  type NatsConnection,
} from '@wallet/platform';
import type { Msg } from 'nats';
import { readBalances } from '../../domain/wallet-queries';
import type { StatementQueries } from '../../domain/statements';

const requestSchema = Joi.object<{ user_id: string; as_of?: string }>({
  user_id: uuidSchema().required(),
  as_of: Joi.string().max(64),
}).unknown(true);

/** A balance request is `{"user_id": "<uuid>"}`: anything much longer is not one, and is not parsed. */
const MAX_REQUEST_BYTES = 1_024;

/**
 * The form user-service sends. Checked first, because joi costs several times more per message and
 * a flood is paid per message; it accepts a subset of what requestSchema accepts, with the same
 * result (lower-cased), and anything else still goes through requestSchema.
 */
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The one answer that names no user (the request named no valid one), encoded once: a flood of
 * garbage costs no JSON work. Every other reply carries the user id it answers for (the contract).
 */
const INVALID_REQUEST_REPLY = Buffer.from(JSON.stringify({ ok: false, error: 'invalid_request' } satisfies BalanceReply));

export interface BalanceResponderOptions {
  nats: NatsConnection;
  subject: string;
  /** The responder's own pool: a flood of balance reads never takes the money operations' connections. */
  knex: Knex;
  logger: Logger;
  metrics: MetricsRegistry;
  /** Requests accepted and not yet answered (queued + being read); beyond it: `busy` at once. */
  maxPending: number;
  /** Requests read in one query. */
  batchMax: number;
  /** Queries at the same time (at most the pool's size, so none waits for a connection). */
  concurrency: number;
  /** Balances at an instant (requests with `as_of`), on this responder's own pool. */
  statements: Pick<StatementQueries, 'balanceAt'>;
}

interface Pending {
  msg: Msg;
  userId: string;
  /** The instant asked about, exactly as the request spelled it (echoed in the reply). */
  asOf?: string;
}

/**
 * Answers balance requests from user-service, within a budget. Subscribed in a queue group, so each
 * request is answered by exactly one of however many transaction-service instances run.
 *
 * Every cost is bounded, whatever arrives on the subject: a message nobody waits for (no reply
 * subject, or one outside user-service's inbox, where the server lets no reply go) or that is not a
 * balance request costs no database work; at most `maxPending` requests
 * are held, and one more is answered `busy` at once (user-service turns that into 503 with
 * Retry-After); the held ones are read `batchMax` at a time in one query each, at most
 * `concurrency` queries at once. So memory, connections and log lines stay bounded under a flood,
 * and HTTP money operations, the Kafka consumer and /healthz keep their share of the process.
 */
export function answerBalanceRequests(options: BalanceResponderOptions): { stop(): Promise<void> } {
  const responder = new BalanceResponder(options);
  return { stop: () => responder.stop() };
}

function declareResponderMetrics(registry: BalanceResponderOptions['metrics'], pendingNow: () => number) {
  const metric = declareMetrics(registry);
  metric.gaugeReading('nats_balance_requests_pending', 'Balance requests accepted and not yet answered', pendingNow);
  return {
    // busy present at 0 from the start, for the busy alert's increase().
    answered: metric.counter<'result'>('nats_balance_requests_answered_total', 'Balance requests answered over NATS, by result', ['result'], {
      presentAtZero: [{ result: 'busy' }],
    }),
    dropped: metric.counter(
      'nats_balance_requests_dropped_total',
      'Messages on the balance subject not answered, by reason (no_reply: nobody waits for an answer; foreign_reply: the reply subject is outside the user-service inbox)',
      ['reason'],
    ),
    batchSize: metric.histogram('nats_balance_batch_size', 'Balance requests read per query', BATCH_SIZE_BUCKETS),
    readDuration: metric.histogram(
      'nats_balance_read_seconds',
      'Time of one balance query (one batch of waiting requests)',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    ),
  };
}

class BalanceResponder {
  private readonly queue: Pending[] = [];
  /** Accepted and not yet answered: the queue plus the batches being read. */
  private pending = 0;
  private running = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly metrics: ReturnType<typeof declareResponderMetrics>;
  private readonly readFailures: ReturnType<typeof createErrorAggregator>;
  private readonly replyFailures: ReturnType<typeof createErrorAggregator>;
  private readonly subscriptionErrors: ReturnType<typeof createErrorAggregator>;
  private readonly subscription: ReturnType<BalanceResponderOptions['nats']['subscribe']>;

  constructor(private readonly options: BalanceResponderOptions) {
    const { logger } = options;
    this.metrics = declareResponderMetrics(options.metrics, () => this.pending);
    this.readFailures = createErrorAggregator(logger, { message: 'balance read failed' });
    this.replyFailures = createErrorAggregator(logger, { message: 'balance reply could not be sent' });
    this.subscriptionErrors = createErrorAggregator(logger, { message: 'balance subscription error' });
    this.subscription = options.nats.subscribe(options.subject, {
      queue: BALANCE_QUEUE_GROUP,
      callback: (error, msg) => {
        if (error) this.subscriptionErrors.record(error);
        else this.onMessage(msg);
      },
    });
  }

  async stop(): Promise<void> {
    await this.subscription.drain();
    // Bounded: nothing new is accepted after the drain, and each batch ends with its query.
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    this.readFailures.stop();
    this.replyFailures.stop();
    this.subscriptionErrors.stop();
  }

  private onMessage(msg: Msg): void {
    if (!msg.reply) {
      this.metrics.dropped.inc({ reason: 'no_reply' });
      return;
    }
    // The server would refuse the reply (and report each refusal): not worth a read, nor a log line.
    if (!msg.reply.startsWith(BALANCE_REPLY_PREFIX)) {
      this.metrics.dropped.inc({ reason: 'foreign_reply' });
      return;
    }
    const request = parseRequest(msg.data);
    if (request === undefined) {
      this.respond(msg, { ok: false, error: 'invalid_request' });
      return;
    }
    const { userId, asOf } = request;
    if (this.pending >= this.options.maxPending) {
      this.respond(msg, { ok: false, error: 'busy', user_id: userId, ...(asOf === undefined ? {} : { as_of: asOf }) });
      return;
    }
    this.pending += 1;
    this.queue.push({ msg, userId, ...(asOf === undefined ? {} : { asOf }) });
    this.pump();
  }

  /**
   * When idle, a request is read at once (a batch of one); while queries run, requests gather and
   * the next query takes up to batchMax of them.
   */
  private pump(): void {
    while (this.running < this.options.concurrency && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.batchMax);
      this.running += 1;
      const work = this.readBatch(batch).finally(() => {
        this.running -= 1;
        this.pending -= batch.length;
        this.inFlight.delete(work);
        this.pump();
      });
      this.inFlight.add(work);
    }
  }

  /**
   * Current balances are read in one query for the whole batch; balances at an instant one after
   * another (each first waits for its user's writers: ADR 11), so a batch still holds one connection.
   */
  private async readBatch(all: Pending[]): Promise<void> {
    const batch = all.filter((p) => p.asOf === undefined);
    for (const p of all) if (p.asOf !== undefined) await this.answerAsOf(p, p.asOf);
    if (batch.length === 0) return;
    this.metrics.batchSize.observe(batch.length);
    let balances: Awaited<ReturnType<typeof readBalances>>;
    const endTimer = this.metrics.readDuration.startTimer();
    try {
      balances = await readBalances(this.options.knex, batch.map((p) => p.userId));
      endTimer();
    } catch (error) {
      // A batch in flight held on past the wait's bound (an expired hold not yet released): busy, not a failure.
      const replyError = replyErrorOf(error);
      if (replyError === 'internal_error') this.readFailures.record(error, { requests: batch.length });
      for (const p of batch) this.respond(p.msg, { ok: false, error: replyError, user_id: p.userId });
      return;
    }
    for (const p of batch) {
      const balance = balances.get(p.userId);
      this.respond(
        p.msg,
        balance === undefined ? { ok: false, error: 'user_not_found', user_id: p.userId } : { ok: true, user_id: p.userId, ...balance },
      );
    }
  }

  private async answerAsOf(p: Pending, asOf: string): Promise<void> {
    const instant = parseRfc3339(asOf);
    if (typeof instant !== 'number') {
      this.respond(p.msg, { ok: false, error: 'invalid_as_of', user_id: p.userId, as_of: asOf });
      return;
    }
    try {
      const found = await this.options.statements.balanceAt(p.userId, instant);
      const { balance, available_balance } = found;
      this.respond(p.msg, { ok: true, user_id: p.userId, balance, available_balance, as_of: asOf, sequence: found.sequence });
    } catch (error) {
      const error_ = replyErrorOf(error);
      if (error_ === 'internal_error') this.readFailures.record(error, { requests: 1 });
      this.respond(p.msg, { ok: false, error: error_, user_id: p.userId, as_of: asOf });
    }
  }

  private respond(msg: Msg, reply: BalanceReply): void {
    this.metrics.answered.inc({ result: reply.ok ? 'ok' : reply.error });
    try {
      msg.respond('user_id' in reply ? Buffer.from(JSON.stringify(reply)) : INVALID_REQUEST_REPLY);
    } catch (error) {
      // The connection is closing or reconnecting: the requester times out and says so.
      this.replyFailures.record(error);
    }
  }
}

/** What a refusal of balanceAt is called in the reply contract; anything else is internal_error. */
const REPLY_ERRORS: Partial<Record<ErrorCode, BalanceReplyError>> = {
  as_of_not_settled: 'as_of_not_settled',
  validation_failed: 'invalid_as_of',
  user_not_found: 'user_not_found',
  service_unavailable: 'busy',
};

function replyErrorOf(error: unknown): BalanceReplyError {
  return (isAppError(error) ? REPLY_ERRORS[error.code] : undefined) ?? 'internal_error';
}

function parseRequest(data: Uint8Array): { userId: string; asOf?: string } | undefined {
  if (data.length > MAX_REQUEST_BYTES) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed === 'object' && parsed !== null) {
    const { user_id: userId, as_of: asOf } = parsed as { user_id?: unknown; as_of?: unknown };
    if (typeof userId === 'string' && CANONICAL_UUID.test(userId) && asOf === undefined) return { userId: userId.toLowerCase() };
  }
  const checked = requestSchema.validate(parsed);
  if (checked.error) return undefined;
  return { userId: checked.value.user_id, ...(checked.value.as_of === undefined ? {} : { asOf: checked.value.as_of }) };
}
