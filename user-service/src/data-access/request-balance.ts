import { ErrorCode, Events, JSONCodec, type NatsConnection } from 'nats';
import { declareMetrics, errorField, type BalanceReply, type BalanceRequest, type Logger, type MetricsRegistry } from '@wallet/platform';

/** What came back from transaction-service, or why nothing did. The domain decides what each means. */
export type BalanceRequestOutcome =
  | { kind: 'replied'; reply: BalanceReply }
  | { kind: 'no_responders' }
  /** BALANCE_MAX_OUTSTANDING requests are already waiting for a reply: not sent. */
  | { kind: 'overloaded' }
  | { kind: 'timeout' }
  | { kind: 'disconnected' }
  | { kind: 'invalid_reply'; detail: string }
  | { kind: 'failed'; detail: string };

export interface BalanceRequester {
  requestBalance: (userId: string) => Promise<BalanceRequestOutcome>;
  /** False while the NATS connection is down (reconnecting) or closed. */
  isConnected: () => boolean;
  stop: () => void;
}

const codec = JSONCodec<unknown>();

/**
 * Asks transaction-service for a balance over NATS request/reply. The connection state is tracked
 * from the status stream: while NATS is away the client would buffer the request and only time out
 * after BALANCE_TIMEOUT_MS, so we answer "disconnected" at once instead.
 */
export function createBalanceRequester(options: {
  nats: NatsConnection;
  subject: string;
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

  let outstanding = 0;
  metric.gaugeReading('balance_requests_outstanding', 'NATS balance requests sent and not yet answered', () => outstanding);

  let connected = true;
  const statusStream = nats.status();
  void (async () => {
    for await (const status of statusStream) {
      if (status.type === Events.Disconnect) connected = false;
      else if (status.type === Events.Reconnect) connected = true;
    }
  })().catch((error: unknown) => logger.warn({ err: error }, 'nats status stream ended'));

  async function requestBalance(userId: string): Promise<BalanceRequestOutcome> {
    // Every waiting request holds a timer, an inbox entry and an HTTP request: their number is
    // bounded, so a slow or flooded transaction-service makes us fail fast rather than pile up.
    if (outstanding >= options.maxOutstanding) {
      failures.inc({ reason: 'overloaded' });
      return { kind: 'overloaded' };
    }
    const started = process.hrtime.bigint();
    outstanding += 1;
    let outcome: BalanceRequestOutcome;
    try {
      outcome = await send(userId);
    } finally {
      outstanding -= 1;
    }
    latency.observe({ outcome: outcome.kind }, Number(process.hrtime.bigint() - started) / 1e9);
    if (outcome.kind !== 'replied') failures.inc({ reason: outcome.kind });
    return outcome;
  }

  const isConnected = (): boolean => connected && !nats.isClosed() && !nats.isDraining();

  async function send(userId: string): Promise<BalanceRequestOutcome> {
    if (!isConnected()) return { kind: 'disconnected' };
    const request: BalanceRequest = { user_id: userId };
    let data: unknown;
    try {
      const message = await nats.request(subject, codec.encode(request), { timeout: timeoutMs });
      data = codec.decode(message.data);
    } catch (error) {
      const code = errorField(error, 'code');
      if (code === ErrorCode.NoResponders) return { kind: 'no_responders' };
      if (code === ErrorCode.Timeout) return { kind: 'timeout' };
      if (code === ErrorCode.ConnectionClosed || code === ErrorCode.Disconnect || code === ErrorCode.ConnectionDraining) {
        return { kind: 'disconnected' };
      }
      if (code === ErrorCode.BadJson) return { kind: 'invalid_reply', detail: 'reply is not JSON' };
      logger.error({ err: error, subject }, 'balance request failed');
      return { kind: 'failed', detail: error instanceof Error ? error.message : String(error) };
    }
    const reply = parseReply(data);
    if (!reply) return { kind: 'invalid_reply', detail: 'reply does not match the BalanceReply contract' };
    return { kind: 'replied', reply };
  }

  return {
    requestBalance,
    isConnected,
    // The status stream is a QueuedIterator (it has stop()), though typed as a plain AsyncIterable.
    stop: () => (statusStream as { stop?: () => void }).stop?.(),
  };
}

function parseReply(data: unknown): BalanceReply | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const reply = data as Record<string, unknown>;
  if (reply.ok === true && typeof reply.user_id === 'string' && typeof reply.balance === 'string') {
    return { ok: true, user_id: reply.user_id, balance: reply.balance };
  }
  if (
    reply.ok === false &&
    (reply.error === 'user_not_found' ||
      reply.error === 'invalid_request' ||
      reply.error === 'internal_error' ||
      reply.error === 'busy')
  ) {
    return { ok: false, error: reply.error };
  }
  return undefined;
}
