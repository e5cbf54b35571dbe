import type { Batch, Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { ensureTopics, createStoppableSleep, declareMetrics, fullJitterBackoffMs, type Knex, type Logger, type MetricsRegistry } from '@wallet/platform';
import { applyUserCreatedChunk, type ChunkMessage, type ChunkReport } from '../../domain/apply-user-created-chunk';
import { decodeUserCreatedMessage, type MessageHeaders } from '../../domain/register-user';

export interface UserCreatedConsumerOptions {
  kafka: Kafka;
  knex: Knex;
  logger: Logger;
  metrics: MetricsRegistry;
  topic: string;
  topicPartitions: number;
  groupId: string;
  /** Messages applied per database transaction (the offset is committed after each chunk). */
  chunkSize?: number;
  /** Partitions whose batches are applied at the same time (each on its own connection). */
  partitionsConsumedConcurrently?: number;
  /** Cap of the backoff between retries of a transient failure (database down, Kafka away). */
  maxBackoffMs?: number;
  /**
   * How long a fetch waits at the broker for messages when there are none. Stopping waits for the
   * fetch in flight, so this also bounds how long a stop takes (kafkajs' default is 5 s).
   */
  maxWaitTimeMs?: number;
}

export interface RunningConsumer {
  /** Stops fetching, lets the in-flight chunk finish and commits its offset. */
  stop(): Promise<void>;
  /** Readiness: resolves while the consumer is a member of its group, throws otherwise. */
  check(): Promise<void>;
}

const INITIAL_BACKOFF_MS = 100;
/** An idle fetch returns after this long; a message arriving ends it at once, so latency is not affected. */
const DEFAULT_MAX_WAIT_TIME_MS = 1_000;

/**
 * Consumes `user-created` into the users table, a chunk of a fetched batch per database transaction
 * (see ADR 8). Offsets are resolved and committed only after that chunk's database commit
 * (at-least-once delivery); processed_events turns that into an exactly-once effect, so a chunk
 * redelivered after a crash or a rebalance changes nothing. What is dead-lettered and how is the
 * domain's (applyUserCreatedChunk); this side keeps Kafka: fetching, retrying, committing, supervising.
 * Starts in the background and returns at once: while Kafka is unreachable, transaction-service
 * still serves money requests, and this keeps retrying with a capped backoff.
 */
export function startUserCreatedConsumer(options: UserCreatedConsumerOptions): Promise<RunningConsumer> {
  const consumer = new UserCreatedConsumer(options);
  consumer.start();
  return Promise.resolve({ check: () => consumer.check(), stop: () => consumer.stop() });
}

type ConsumerMetrics = ReturnType<typeof declareConsumerMetrics>;

function declareConsumerMetrics(registry: MetricsRegistry) {
  const metric = declareMetrics(registry);
  return {
    // dead_lettered present at 0 from the start, for the dead-letter alert's increase().
    consumed: metric.counter<'outcome'>(
      'user_created_events_consumed_total',
      'user-created messages handled, by outcome (registered, duplicate, dead_lettered)',
      ['outcome'],
      { presentAtZero: [{ outcome: 'dead_lettered' }] },
    ),
    chunks: metric.counter(
      'user_created_chunks_total',
      'Chunks of user-created messages applied, by how (batch: one transaction; one_by_one: after a permanent error)',
      ['mode'],
    ),
    retries: metric.counter('user_created_chunk_retries_total', 'Chunks retried after a transient failure (database unreachable, connection lost)'),
    lag: metric.gauge(
      'user_created_consumer_lag_messages',
      'Messages on the partition not yet consumed, after the last batch (high watermark - offset)',
      ['partition'],
    ),
  };
}

class UserCreatedConsumer {
  private readonly logger: Logger;
  private readonly metrics: ConsumerMetrics;
  private readonly maxBackoffMs: number;
  private readonly chunkSize: number;
  private readonly sleeper = createStoppableSleep();
  private stopping = false;
  private consumer: Consumer | undefined;
  // True between joining the group and crashing/stopping: until then new users do not arrive.
  private joined = false;
  private supervising: Promise<void> = Promise.resolve();

  constructor(private readonly options: UserCreatedConsumerOptions) {
    this.logger = options.logger.child({ component: 'user-created-consumer', topic: options.topic });
    this.metrics = declareConsumerMetrics(options.metrics);
    this.maxBackoffMs = options.maxBackoffMs ?? 5_000;
    this.chunkSize = options.chunkSize ?? 500;
  }

  start(): void {
    this.supervising = this.connectAndRun();
  }

  check(): Promise<void> {
    return this.joined ? Promise.resolve() : Promise.reject(new Error('not (yet) a member of the consumer group'));
  }

  /** Stops fetching, lets the in-flight chunk finish and commits its offset. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.joined = false;
    this.sleeper.stop();
    await this.supervising;
    const current = this.consumer;
    this.consumer = undefined;
    await current?.disconnect();
  }

  private backoffMs(attempt: number): number {
    return fullJitterBackoffMs(attempt, { baseMs: INITIAL_BACKOFF_MS, capMs: this.maxBackoffMs });
  }

  /** Joins the group and runs; while Kafka is unreachable, tries again with a capped backoff. */
  private async connectAndRun(): Promise<void> {
    for (let attempt = 1; !this.stopping; attempt += 1) {
      const next = this.createGroupMember();
      try {
        await this.subscribeAndRun(next);
        return;
      } catch (error) {
        this.consumer = undefined;
        await next.disconnect().catch(() => undefined);
        if (this.stopping) return;
        const delayMs = this.backoffMs(attempt);
        this.logger.warn({ err: error, attempt, delayMs }, 'cannot consume user-created yet (Kafka unreachable?); retrying');
        await this.sleeper.sleep(delayMs);
      }
    }
  }

  private async subscribeAndRun(next: Consumer): Promise<void> {
    const { kafka, topic } = this.options;
    await ensureTopics(kafka, [{ topic, numPartitions: this.options.topicPartitions }]);
    await next.connect();
    // fromBeginning applies only to a group with no committed offset: a new deployment must
    // see every user created before it, not just those created after it joined.
    await next.subscribe({ topics: [topic], fromBeginning: true });
    if (this.stopping) {
      await next.disconnect();
      return;
    }
    this.consumer = next;
    await next.run({
      // Resolve and commit are ours, after each chunk's database commit, never before.
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
      eachBatch: (payload) => this.handleBatch(payload),
    });
    this.logger.info({ groupId: this.options.groupId }, 'consuming user-created events');
  }

  private createGroupMember(): Consumer {
    const next = this.options.kafka.consumer({
      groupId: this.options.groupId,
      // A member killed without leaving (kill -9) holds its partitions until the session times
      // out; 10 s (not kafkajs' 30 s) lets a restarted instance take over sooner. Heartbeats are
      // also sent after each chunk and while a chunk waits for the database, so slow work does
      // not trip it.
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      maxWaitTimeInMs: this.options.maxWaitTimeMs ?? DEFAULT_MAX_WAIT_TIME_MS,
      // Non-retriable crashes are handled below too; retriable ones kafkajs restarts itself.
      retry: { restartOnFailure: () => Promise.resolve(true) },
    });
    next.on(next.events.GROUP_JOIN, () => {
      this.joined = true;
    });
    next.on(next.events.STOP, () => {
      this.joined = false;
    });
    next.on(next.events.END_BATCH_PROCESS, (event) => {
      this.metrics.lag.set({ partition: String(event.payload.partition) }, Number(event.payload.offsetLag));
    });
    next.on(next.events.CRASH, (event) => {
      this.joined = false;
      if (event.payload.restart || this.stopping || this.consumer !== next) return;
      this.logger.error({ err: event.payload.error }, 'consumer crashed; starting a new one');
      this.consumer = undefined;
      this.supervising = next
        .disconnect()
        .catch(() => undefined)
        .then(() => this.connectAndRun());
    });
    return next;
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    for (let start = 0; start < batch.messages.length; start += this.chunkSize) {
      // After a rebalance took the partition away (stale) or on stop, the rest of the batch is left
      // to whoever owns the partition next: it starts from the last committed offset.
      if (!payload.isRunning() || payload.isStale()) return;
      const items = toChunk(batch, batch.messages.slice(start, start + this.chunkSize));
      await this.applyWithRetries(payload, items);
      // Only now, after the database commit, are these messages done.
      const last = items[items.length - 1]!.offset;
      payload.resolveOffset(last);
      await this.consumer?.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
      await payload.heartbeat();
    }
  }

  private async applyWithRetries(payload: EachBatchPayload, items: ChunkMessage[]): Promise<void> {
    const { partition } = payload.batch;
    const onRefused = (error: unknown): void => {
      this.logger.warn({ err: error, partition, messages: items.length }, 'chunk refused; applying it one message at a time');
    };
    for (let attempt = 1; ; attempt += 1) {
      try {
        this.record(partition, items.length, await applyUserCreatedChunk(this.options.knex, items, onRefused));
        return;
      } catch (error) {
        // Transient: keep the chunk (never dead-letter for an outage) and try again, telling the
        // group coordinator we are alive so the partition is not taken away meanwhile.
        if (this.stopping) throw error;
        this.metrics.retries.inc();
        const delayMs = this.backoffMs(attempt);
        this.logger.warn({ err: error, partition, firstOffset: items[0]?.offset, attempt, delayMs }, 'processing failed; retrying');
        await this.sleeper.sleep(delayMs);
        if (this.stopping) throw error;
        await payload.heartbeat();
      }
    }
  }

  /** Counts and logs an applied chunk. */
  private record(partition: number, messages: number, report: ChunkReport): void {
    this.metrics.chunks.inc({ mode: report.mode });
    for (const [outcome, count] of Object.entries(report.counts)) this.metrics.consumed.inc({ outcome }, count);
    for (const letter of report.deadLetters) {
      this.logger.error({ partition, offset: letter.offset, reason: letter.reason }, 'user-created message dead-lettered');
    }
    if (report.mode === 'one_by_one') return;
    // One line per chunk (not per user): at thousands of events a second, a line each would cost
    // more than applying them. The event ids are at debug level.
    this.logger.info(
      { partition, messages, registered: report.counts.registered, duplicates: report.counts.duplicate },
      'user-created chunk applied',
    );
    this.logger.debug({ partition, registered: report.registeredEventIds }, 'user-created events registered');
  }
}

/** A slice of a fetched batch, each message with its headers as strings and decoded against the contract. */
function toChunk(batch: Batch, messages: KafkaMessage[]): ChunkMessage[] {
  return messages.map((message) => {
    const headers = headersToStrings(message.headers);
    return {
      topic: batch.topic,
      partition: batch.partition,
      offset: message.offset,
      key: message.key,
      value: message.value,
      headers,
      decoded: decodeUserCreatedMessage(message.value, headers),
    };
  });
}

export function headersToStrings(headers: IHeaders | undefined): MessageHeaders {
  const result: MessageHeaders = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    // kafkajs hands a header sent with length -1 (a null value, which Java producers allow) over
    // as null, whatever its types say: treat it as absent rather than crash on every redelivery.
    const first: Buffer | string | null | undefined = Array.isArray(value) ? value[0] : value;
    if (first !== undefined && first !== null) result[name] = first.toString();
  }
  return result;
}
