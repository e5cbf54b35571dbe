import type { Batch, Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { ensureTopics, createStoppableSleep, declareMetrics, fullJitterBackoffMs, type Knex, type Logger, type MetricsRegistry } from '@wallet/platform';
import { insertDeadLetter, type DeadLetter } from '../../data-access/dead-letters-repository';
import {
  decodeUserCreatedMessage,
  isPermanentDatabaseError,
  registerUser,
  type DecodedMessage,
  type MessageHeaders,
  type UserCreatedEvent,
} from '../../domain/register-user';
import { registerUsers } from '../../domain/register-users';

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
}

export interface RunningConsumer {
  /** Stops fetching, lets the in-flight chunk finish and commits its offset. */
  stop(): Promise<void>;
  /** Readiness: resolves while the consumer is a member of its group, throws otherwise. */
  check(): Promise<void>;
}

const INITIAL_BACKOFF_MS = 100;

type Outcome = 'registered' | 'duplicate' | 'dead_lettered';

interface ChunkMessage {
  message: KafkaMessage;
  headers: MessageHeaders;
  decoded: DecodedMessage;
}

/**
 * Consumes `user-created` into the users table, a chunk of a fetched batch per database transaction
 * (see ADR 8). Offsets are resolved and committed only after that chunk's database commit
 * (at-least-once delivery); processed_events turns that into an exactly-once effect, so a chunk
 * redelivered after a crash or a rebalance changes nothing.
 * Starts in the background and returns at once: while Kafka is unreachable, transaction-service
 * still serves money requests, and this keeps retrying with a capped backoff.
 */
export function startUserCreatedConsumer(options: UserCreatedConsumerOptions): Promise<RunningConsumer> {
  const { kafka, knex, topic, groupId } = options;
  const logger = options.logger.child({ component: 'user-created-consumer', topic });
  const maxBackoffMs = options.maxBackoffMs ?? 5_000;
  const chunkSize = options.chunkSize ?? 500;
  const metric = declareMetrics(options.metrics);
  const consumed = metric.counter(
    'user_created_events_consumed_total',
    'user-created messages handled, by outcome (registered, duplicate, dead_lettered)',
    ['outcome'],
  );
  const chunks = metric.counter(
    'user_created_chunks_total',
    'Chunks of user-created messages applied, by how (batch: one transaction; one_by_one: after a permanent error)',
    ['mode'],
  );
  const retries = metric.counter(
    'user_created_chunk_retries_total',
    'Chunks retried after a transient failure (database unreachable, connection lost)',
  );
  const lag = metric.gauge(
    'user_created_consumer_lag_messages',
    'Messages on the partition not yet consumed, after the last batch (high watermark - offset)',
    ['partition'],
  );

  let stopping = false;
  let consumer: Consumer | undefined;
  // True between joining the group and crashing/stopping: until then new users do not arrive.
  let joined = false;
  const sleeper = createStoppableSleep();

  const backoffMs = (attempt: number): number => fullJitterBackoffMs(attempt, { baseMs: INITIAL_BACKOFF_MS, capMs: maxBackoffMs });

  const toDeadLetter = (batch: Batch, item: ChunkMessage, reason: string): DeadLetter => ({
    topic: batch.topic,
    partition: batch.partition,
    offset: item.message.offset,
    key: item.message.key ? toStorableText(item.message.key) : null,
    value: item.message.value ? toStorableText(item.message.value) : null,
    headers: Object.fromEntries(Object.entries(item.headers).map(([k, v]) => [toStorableText(k), toStorableText(v)])),
    // The reason can quote a header (an unexpected event type), so it is cleaned like one.
    reason: toStorableText(reason),
  });

  /** The whole chunk in one transaction. Throws on any database error (nothing committed). */
  async function applyChunk(batch: Batch, items: ChunkMessage[]): Promise<void> {
    const events: UserCreatedEvent[] = [];
    const deadLetters: DeadLetter[] = [];
    for (const item of items) {
      if (item.decoded.ok) events.push(item.decoded.event);
      else deadLetters.push(toDeadLetter(batch, item, item.decoded.reason));
    }
    const outcome = await registerUsers(knex, { events, deadLetters });
    chunks.inc({ mode: 'batch' });
    consumed.inc({ outcome: 'registered' }, outcome.registered.size);
    consumed.inc({ outcome: 'duplicate' }, outcome.duplicates);
    consumed.inc({ outcome: 'dead_lettered' }, outcome.deadLettered);
    for (const letter of deadLetters) {
      logger.error({ partition: letter.partition, offset: letter.offset, reason: letter.reason }, 'user-created message dead-lettered');
    }
    // One line per chunk (not per user): at thousands of events a second, a line each would cost
    // more than applying them. The event ids are at debug level.
    logger.info(
      { partition: batch.partition, messages: items.length, registered: outcome.registered.size, duplicates: outcome.duplicates },
      'user-created chunk applied',
    );
    logger.debug({ partition: batch.partition, registered: [...outcome.registered] }, 'user-created events registered');
  }

  /**
   * After the database refused the chunk for good (a data or integrity error: one message's
   * content), apply it one message at a time, so only the message the database refuses is
   * dead-lettered and the rest of the chunk is registered. A transient error here throws, and the
   * chunk is retried (what was already applied is then a duplicate).
   */
  async function applyOneByOne(batch: Batch, items: ChunkMessage[]): Promise<void> {
    chunks.inc({ mode: 'one_by_one' });
    for (const item of items) {
      let outcome: Outcome;
      let reason = item.decoded.ok ? undefined : item.decoded.reason;
      if (item.decoded.ok) {
        try {
          outcome = await registerUser(knex, item.decoded.event);
        } catch (error) {
          if (!isPermanentDatabaseError(error)) throw error;
          reason = `the database refused the event: ${error instanceof Error ? error.message : String(error)}`;
          outcome = 'dead_lettered';
        }
      } else {
        outcome = 'dead_lettered';
      }
      if (outcome === 'dead_lettered') {
        await insertDeadLetter(knex, toDeadLetter(batch, item, reason ?? 'unknown'));
        logger.error({ partition: batch.partition, offset: item.message.offset, reason }, 'user-created message dead-lettered');
      }
      consumed.inc({ outcome });
    }
  }

  async function processChunk(payload: EachBatchPayload, items: ChunkMessage[]): Promise<void> {
    const { batch } = payload;
    for (let attempt = 1; ; attempt += 1) {
      try {
        try {
          await applyChunk(batch, items);
        } catch (error) {
          if (!isPermanentDatabaseError(error)) throw error;
          logger.warn({ err: error, partition: batch.partition, messages: items.length }, 'chunk refused; applying it one message at a time');
          await applyOneByOne(batch, items);
        }
        return;
      } catch (error) {
        // Transient: keep the chunk (never dead-letter for an outage) and try again, telling the
        // group coordinator we are alive so the partition is not taken away meanwhile.
        if (stopping) throw error;
        retries.inc();
        const delayMs = backoffMs(attempt);
        logger.warn(
          { err: error, partition: batch.partition, firstOffset: items[0]?.message.offset, attempt, delayMs },
          'processing failed; retrying',
        );
        await sleeper.sleep(delayMs);
        if (stopping) throw error;
        await payload.heartbeat();
      }
    }
  }

  async function handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    for (let start = 0; start < batch.messages.length; start += chunkSize) {
      // After a rebalance took the partition away (stale) or on stop, the rest of the batch is left
      // to whoever owns the partition next: it starts from the last committed offset.
      if (!payload.isRunning() || payload.isStale()) return;
      const items = batch.messages.slice(start, start + chunkSize).map((message): ChunkMessage => {
        const headers = headersToStrings(message.headers);
        return { message, headers, decoded: decodeUserCreatedMessage(message.value, headers) };
      });
      await processChunk(payload, items);
      // Only now, after the database commit, are these messages done.
      const last = items[items.length - 1]!.message.offset;
      payload.resolveOffset(last);
      await consumer?.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
      await payload.heartbeat();
    }
  }

  async function connectAndRun(): Promise<void> {
    for (let attempt = 1; !stopping; attempt += 1) {
      const next = kafka.consumer({
        groupId,
        // A member killed without leaving (kill -9) holds its partitions until the session times
        // out; 10 s (not kafkajs' 30 s) lets a restarted instance take over sooner. Heartbeats are
        // also sent after each chunk and while a chunk waits for the database, so slow work does
        // not trip it.
        sessionTimeout: 10_000,
        heartbeatInterval: 1_000,
        // Non-retriable crashes are handled below too; retriable ones kafkajs restarts itself.
        retry: { restartOnFailure: () => Promise.resolve(true) },
      });
      next.on(next.events.GROUP_JOIN, () => {
        joined = true;
      });
      next.on(next.events.STOP, () => {
        joined = false;
      });
      next.on(next.events.END_BATCH_PROCESS, (event) => {
        lag.set({ partition: String(event.payload.partition) }, Number(event.payload.offsetLag));
      });
      next.on(next.events.CRASH, (event) => {
        joined = false;
        if (event.payload.restart || stopping || consumer !== next) return;
        logger.error({ err: event.payload.error }, 'consumer crashed; starting a new one');
        consumer = undefined;
        supervising = next
          .disconnect()
          .catch(() => undefined)
          .then(() => connectAndRun());
      });
      try {
        await ensureTopics(kafka, [{ topic, numPartitions: options.topicPartitions }]);
        await next.connect();
        // fromBeginning applies only to a group with no committed offset: a new deployment must
        // see every user created before it, not just those created after it joined.
        await next.subscribe({ topics: [topic], fromBeginning: true });
        if (stopping) {
          await next.disconnect();
          return;
        }
        consumer = next;
        await next.run({
          // Resolve and commit are ours, after each chunk's database commit, never before.
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
          eachBatch: handleBatch,
        });
        logger.info({ groupId }, 'consuming user-created events');
        return;
      } catch (error) {
        consumer = undefined;
        await next.disconnect().catch(() => undefined);
        if (stopping) return;
        const delayMs = backoffMs(attempt);
        logger.warn({ err: error, attempt, delayMs }, 'cannot consume user-created yet (Kafka unreachable?); retrying');
        await sleeper.sleep(delayMs);
      }
    }
  }

  let supervising = connectAndRun();
  return Promise.resolve({
    check: () => (joined ? Promise.resolve() : Promise.reject(new Error('not (yet) a member of the consumer group'))),
    stop: async () => {
      stopping = true;
      joined = false;
      sleeper.stop();
      await supervising;
      const current = consumer;
      consumer = undefined;
      await current?.disconnect();
    },
  });
}

/**
 * PostgreSQL text and jsonb cannot hold NUL, and invalid UTF-8 would be refused: a binary poison
 * message must still fit in dead_letters, or it would be retried for ever and block its partition.
 */
function toStorableText(raw: Buffer | string): string {
  return (typeof raw === 'string' ? raw : raw.toString('utf8')).replaceAll('\u0000', '\\u0000');
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
