import { createStoppableSleep, fullJitterBackoffMs, sqlState, type Knex, type Logger } from '@wallet/platform';
import type { EventPublisher } from '../data-access/publish-events';
import type { OutboxMessage, OutboxSource } from './outbox-source';

export interface RelayOptions<Row> {
  knex: Knex;
  source: OutboxSource<Row>;
  publisher: EventPublisher;
  /** Creates the topic when missing; retried like any other failure until it succeeds once. */
  ensureTopic: () => Promise<void>;
  topic: string;
  batchSize: number;
  pollIntervalMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  logger: Logger;
  onPublished?: (messages: OutboxMessage[]) => void;
  onFailure?: (reason: 'outbox_missing' | 'publish' | 'database' | 'topic') => void;
}

/** SQLSTATE undefined_table: the outbox's service has not created it yet (it migrates at start-up). */
const UNDEFINED_TABLE = '42P01';

/**
 * Moves outbox rows to Kafka. Each batch is one database transaction: lock rows (SKIP LOCKED),
 * send them, mark them published, commit. A failure anywhere rolls the marks back, so a row is
 * never marked without having been sent; the worst case (crash after send, before commit) sends
 * it again, which consumers absorb by event id.
 */
export class OutboxRelay<Row> {
  private stopping = false;
  private wakePending = false;
  private wakeWaiter: (() => void) | undefined;
  /** Backoff pauses: only stop() cuts them short (a NOTIFY must not turn an outage into a busy loop). */
  private readonly pauses = createStoppableSleep();
  private topicReady = false;
  private running: Promise<void> | undefined;

  constructor(private readonly options: RelayOptions<Row>) {}

  /** Starts the loop in the background; it only ends on stop(). */
  start(): void {
    this.running ??= this.loop();
  }

  /** Called on NOTIFY: new rows are committed. A wake-up during a batch is remembered, not lost. */
  wake(): void {
    this.wakePending = true;
    this.wakeWaiter?.();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeWaiter?.();
    this.pauses.stop();
    await this.running;
  }

  /** Publishes one batch; returns how many rows were published. */
  async relayBatch(): Promise<number> {
    const { knex, source, publisher, topic, batchSize } = this.options;
    const outcome = await knex.transaction(async (trx) => {
      const rows = await source.claim(trx, batchSize);
      if (rows.length === 0) return { messages: [], error: undefined };
      const messages = rows.map((row) => source.toMessage(row));
      try {
        await publisher.publish(topic, messages);
      } catch (error) {
        await source.recordFailure(trx, rows, error instanceof Error ? error.message : String(error));
        return { messages: [], error: new PublishError(error) };
      }
      await source.markPublished(trx, rows);
      return { messages, error: undefined };
    });
    if (outcome.error) throw outcome.error;
    if (outcome.messages.length > 0) this.options.onPublished?.(outcome.messages);
    return outcome.messages.length;
  }

  private async loop(): Promise<void> {
    const { logger, batchSize, pollIntervalMs } = this.options;
    let failures = 0;
    while (!this.stopping) {
      try {
        if (!this.topicReady) {
          await this.options.ensureTopic().catch((error: unknown) => {
            throw new TopicError(error);
          });
          this.topicReady = true;
          logger.info({ topic: this.options.topic }, 'topic ready');
        }
        await this.options.publisher.connect();
        const published = await this.relayBatch();
        if (failures > 0) logger.info({ failures }, 'relay recovered');
        failures = 0;
        if (published > 0) logger.info({ published, topic: this.options.topic }, 'outbox batch published');
        // A full batch means more may be waiting: go again at once. Otherwise sleep until a
        // NOTIFY arrives or the poll interval passes (the fallback for a lost notification).
        if (published < batchSize) await this.waitForWork(pollIntervalMs);
      } catch (error) {
        if (this.stopping) break;
        failures += 1;
        if (sqlState(error) === UNDEFINED_TABLE) {
          this.options.onFailure?.('outbox_missing');
          const message = 'the outbox table does not exist yet (its service creates it at start-up); waiting';
          if (failures === 1) logger.info(message);
          else logger.debug(message);
          await this.pauses.sleep(pollIntervalMs);
          continue;
        }
        const delayMs = fullJitterBackoffMs(failures, { baseMs: this.options.initialBackoffMs, capMs: this.options.maxBackoffMs });
        const reason = error instanceof TopicError ? 'topic' : error instanceof PublishError ? 'publish' : 'database';
        this.options.onFailure?.(reason);
        logger.warn({ err: error instanceof RelayError ? error.cause : error, reason, failures, delayMs }, 'relay failed; retrying');
        await this.pauses.sleep(delayMs);
      }
    }
    await this.options.publisher.disconnect().catch((error: unknown) => logger.warn({ err: error }, 'producer disconnect failed'));
  }

  private waitForWork(timeoutMs: number): Promise<void> {
    if (this.wakePending || this.stopping) {
      this.wakePending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeWaiter = undefined;
        this.wakePending = false;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.wakeWaiter = done;
    });
  }
}

class RelayError extends Error {
  constructor(message: string, cause: unknown) {
    super(`${message}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
class PublishError extends RelayError {
  constructor(cause: unknown) {
    super('publishing to Kafka failed', cause);
  }
}
class TopicError extends RelayError {
  constructor(cause: unknown) {
    super('creating the topic failed', cause);
  }
}
