import type { Consumer, EachMessagePayload, IHeaders, Kafka } from 'kafkajs';
import { ensureTopics, promClient, type Knex, type Logger, type MetricsRegistry } from '@wallet/platform';
import { insertDeadLetter } from '../../data-access/user-events-repository';
import {
  decodeUserCreatedMessage,
  isPermanentDatabaseError,
  registerUser,
  type MessageHeaders,
} from '../../domain/register-user';

export interface UserCreatedConsumerOptions {
  kafka: Kafka;
  knex: Knex;
  logger: Logger;
  metrics: MetricsRegistry;
  topic: string;
  topicPartitions: number;
  groupId: string;
  /** Cap of the backoff between retries of a transient failure (database down, Kafka away). */
  maxBackoffMs?: number;
}

export interface RunningConsumer {
  /** Stops fetching, lets the in-flight message finish and commits its offset. */
  stop(): Promise<void>;
  /** Readiness: resolves while the consumer is a member of its group, throws otherwise. */
  check(): Promise<void>;
}

const INITIAL_BACKOFF_MS = 100;

/**
 * Consumes `user-created` into the users table. Offsets are committed only after the database
 * commit (at-least-once delivery); processed_events turns that into an exactly-once effect.
 * Starts in the background and returns at once: while Kafka is unreachable, transaction-service
 * still serves money requests, and this keeps retrying with a capped backoff.
 */
export function startUserCreatedConsumer(options: UserCreatedConsumerOptions): Promise<RunningConsumer> {
  const { kafka, knex, topic, groupId } = options;
  const logger = options.logger.child({ component: 'user-created-consumer', topic });
  const maxBackoffMs = options.maxBackoffMs ?? 5_000;
  const consumed = new promClient.Counter({
    name: 'user_created_events_consumed_total',
    help: 'user-created messages handled, by outcome (registered, duplicate, dead_lettered)',
    labelNames: ['outcome'] as const,
    registers: [options.metrics],
  });

  const lag = new promClient.Gauge({
    name: 'user_created_consumer_lag_messages',
    help: 'Messages on the partition not yet consumed, after the last batch (high watermark - offset)',
    labelNames: ['partition'] as const,
    registers: [options.metrics],
  });

  let stopping = false;
  let consumer: Consumer | undefined;
  // True between joining the group and crashing/stopping: until then new users do not arrive.
  let joined = false;
  const sleeper = createStoppableSleep();

  const backoffMs = (attempt: number): number =>
    Math.min(maxBackoffMs, INITIAL_BACKOFF_MS * 2 ** Math.min(attempt - 1, 16)) * (0.5 + Math.random() / 2);

  async function handleMessage(payload: EachMessagePayload): Promise<void> {
    const { topic: messageTopic, partition, message } = payload;
    const headers = headersToStrings(message.headers);
    const decoded = decodeUserCreatedMessage(message.value, headers);
    for (let attempt = 1; ; attempt += 1) {
      try {
        let outcome: 'registered' | 'duplicate' | 'dead_lettered';
        let reason = decoded.ok ? undefined : decoded.reason;
        if (decoded.ok) {
          try {
            outcome = await registerUser(knex, decoded.event);
          } catch (error) {
            if (!isPermanentDatabaseError(error)) throw error;
            reason = `the database refused the event: ${error instanceof Error ? error.message : String(error)}`;
            outcome = 'dead_lettered';
          }
        } else {
          outcome = 'dead_lettered';
        }
        if (outcome === 'dead_lettered') {
          await insertDeadLetter(knex, {
            topic: messageTopic,
            partition,
            offset: message.offset,
            key: message.key ? toStorableText(message.key) : null,
            value: message.value ? toStorableText(message.value) : null,
            headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [toStorableText(k), toStorableText(v)])),
            // The reason can quote a header (an unexpected event type), so it is cleaned like one.
            reason: toStorableText(reason ?? 'unknown'),
          });
          logger.error({ partition, offset: message.offset, reason }, 'user-created message dead-lettered');
        } else if (decoded.ok) {
          logger.info(
            { event_id: decoded.event.eventId, user_id: decoded.event.payload.user_id, outcome },
            outcome === 'registered' ? 'user registered' : 'duplicate user-created event ignored',
          );
        }
        consumed.inc({ outcome });
        break;
      } catch (error) {
        // Transient: keep the message (never dead-letter it for an outage) and try again, telling
        // the group coordinator we are alive so the partition is not taken away meanwhile.
        if (stopping) throw error;
        const delayMs = backoffMs(attempt);
        logger.warn({ err: error, partition, offset: message.offset, attempt, delayMs }, 'processing failed; retrying');
        await sleeper.sleep(delayMs);
        if (stopping) throw error;
        await payload.heartbeat();
      }
    }
    // Only now, after the database commit, is the message done.
    await consumer?.commitOffsets([{ topic: messageTopic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
  }

  async function connectAndRun(): Promise<void> {
    for (let attempt = 1; !stopping; attempt += 1) {
      const next = kafka.consumer({
        groupId,
        // A member killed without leaving (kill -9) holds its partitions until the session times
        // out; 10 s (not kafkajs' 30 s) lets a restarted instance take over sooner. Heartbeats are
        // also sent while a message waits for the database, so slow work does not trip it.
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
        await next.run({ autoCommit: false, eachMessage: handleMessage });
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
      sleeper.wakeAll();
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

function createStoppableSleep(): { sleep: (ms: number) => Promise<void>; wakeAll: () => void } {
  const waiting = new Set<() => void>();
  return {
    sleep: (ms) =>
      new Promise((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          waiting.delete(done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        waiting.add(done);
      }),
    wakeAll: () => {
      for (const done of [...waiting]) done();
    },
  };
}
