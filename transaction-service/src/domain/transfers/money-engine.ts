import {
  AppError,
  BATCH_SIZE_BUCKETS,
  declareMetrics,
  fullJitterBackoffMs,
  isAppError,
  isDatabaseUnavailable,
  isRetryableTransactionError,
  sqlState,
  type Knex,
  type Logger,
  type MetricsRegistry,
} from '@wallet/platform';
import { transactionStatus } from '../../data-access/money-batch-repository';
import type { OperationOutcome } from '../idempotency';
import { applyMoneyBatch, CommitOutcomeUnknown, type ItemAnswer, type Presenter } from './apply-money-batch';
import { endpointOf, type KeyedCommand } from './money-command';

export interface MoneyEngineOptions {
  /** The engine's own connections (not the HTTP pool): at least maxBatchesInFlight + 1. */
  knex: Knex;
  present: Presenter;
  logger: Logger;
  metrics: MetricsRegistry;
  /** Items per batch; 1 runs every operation in its own transaction, as before batching. */
  maxBatchSize: number;
  /** Batches running at once in this process. */
  maxBatchesInFlight: number;
  /** Validated operations waiting for a batch; beyond it, 503 with Retry-After. */
  queueLimit: number;
  /** Attempts of one batch after deadlocks, serialization failures, timeouts or a lost connection. */
  maxAttempts?: number;
}

interface Waiting {
  item: KeyedCommand;
  resolve: (outcome: OperationOutcome) => void;
  reject: (error: unknown) => void;
}

/**
 * Beyond what every transaction retries (deadlock, serialization failure: runInTransaction's rule),
 * a batch also re-runs after a lock or statement timeout: one slow item must not fail hundreds.
 */
const TIMEOUT_SQLSTATES = new Set([
  '55P03', // lock_not_available (lock_timeout)
  '57014', // query_canceled (statement_timeout)
]);

/** Safe to re-run: rolled back by PostgreSQL, or the database went away before COMMIT (nothing committed). */
function isRetryable(error: unknown): boolean {
  return isRetryableTransactionError(error) || TIMEOUT_SQLSTATES.has(sqlState(error) ?? '') || isDatabaseUnavailable(error);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type MoneyEngineMetrics = ReturnType<typeof declareMoneyEngineMetrics>;

/** The engine's metrics; the queue depth is read from the queue itself at scrape time. */
function declareMoneyEngineMetrics(registry: MetricsRegistry, queue: readonly Waiting[]) {
  const metric = declareMetrics(registry);
  return {
    operations: metric.counter('wallet_operations_total', 'Money operations by outcome (ok or the error code)', ['operation', 'outcome']),
    replays: metric.counter('wallet_idempotent_replays_total', 'Requests answered from a stored idempotent outcome', ['operation']),
    batchSize: metric.histogram('wallet_money_batch_size', 'Operations per money batch (one database transaction)', BATCH_SIZE_BUCKETS),
    // Read at scrape time: the queue is the truth, the gauge only reports it.
    queueDepth: metric.gaugeReading('wallet_money_queue_depth', 'Validated money operations waiting for a batch', () => queue.length),
    retries: metric.counter('wallet_money_batch_retries_total', 'Money batches re-run or split, by reason', ['reason']),
    stages: metric.histogram(
      'wallet_money_batch_stage_seconds',
      'Time of each stage of a money batch (begin, claim, lock, decide, write, commit)',
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      ['stage'],
    ),
    ambiguous: metric.counter(
      'wallet_money_ambiguous_commits_total',
      'COMMITs whose reply was lost, by what the commit log said',
      ['resolution'],
    ),
  };
}

/**
 * Group commit for money. Every transfer and add-money of this process goes through one bounded
 * queue of validated operations; batches of them are applied in one database transaction each
 * (applyMoneyBatch). When the engine is idle a request runs at once, alone; while a batch runs,
 * new requests queue and the next batch takes up to maxBatchSize of them. One COMMIT (one fsync)
 * then carries hundreds of operations, and row locks are held for one batch's few round trips.
 *
 * Failures: a refusal is one item's outcome, never the batch's. A deadlock, serialization failure,
 * timeout or a connection lost before COMMIT re-runs the whole batch; any other error splits the
 * batch in halves (in order) until the failing item is alone, which alone answers 500. A COMMIT
 * whose reply was lost is settled from PostgreSQL's commit log before anyone is answered or the
 * batch retried, so an operation without a key can never run twice.
 */
export class MoneyEngine {
  private readonly queue: Waiting[] = [];
  private inFlight = 0;
  private stopping = false;
  private idle: (() => void) | undefined;
  private readonly maxAttempts: number;
  private readonly metrics: MoneyEngineMetrics;

  constructor(private readonly options: MoneyEngineOptions) {
    this.maxAttempts = options.maxAttempts ?? 8;
    this.metrics = declareMoneyEngineMetrics(options.metrics, this.queue);
  }

  /** Queues a validated operation; resolves with its response once its batch has committed. */
  submit(item: KeyedCommand): Promise<OperationOutcome> {
    if (this.stopping) {
      return Promise.reject(new AppError('service_unavailable', 'The service is shutting down; retry shortly'));
    }
    if (this.queue.length >= this.options.queueLimit) {
      this.countOutcome(item, { ok: false, error: new AppError('service_unavailable') });
      return Promise.reject(
        new AppError('service_unavailable', 'Too many money operations are waiting; retry shortly (with the same Idempotency-Key)'),
      );
    }
    return new Promise<OperationOutcome>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  /** Stops taking operations and waits until every queued one has been answered. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.queue.length === 0 && this.inFlight === 0) return;
    await new Promise<void>((resolve) => {
      this.idle = resolve;
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.maxBatchesInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatchSize);
      this.inFlight += 1;
      this.metrics.batchSize.observe(batch.length);
      void this.settle(batch).finally(() => {
        this.inFlight -= 1;
        if (this.queue.length > 0) this.pump();
        else if (this.inFlight === 0) this.idle?.();
      });
    }
  }

  /** Applies a batch and answers every item; splits it on an error no retry can cure. */
  private async settle(batch: Waiting[]): Promise<void> {
    let answers: ItemAnswer[];
    try {
      answers = await this.applyWithRetries(batch.map((w) => w.item));
    } catch (error) {
      if (batch.length === 1 || isAppError(error)) {
        if (!isAppError(error)) {
          this.options.logger.error({ err: error, operation: endpointOf(batch[0]!.item.command) }, 'money operation failed');
        }
        for (const waiting of batch) {
          this.countErrorOutcome(waiting.item, error);
          waiting.reject(error);
        }
        return;
      }
      // An error that is no retry's business: find the item that causes it, in arrival order.
      this.metrics.retries.inc({ reason: 'split' });
      this.options.logger.warn({ err: error, size: batch.length }, 'money batch failed; splitting it');
      const half = Math.ceil(batch.length / 2);
      await this.settle(batch.slice(0, half));
      await this.settle(batch.slice(half));
      return;
    }
    batch.forEach((waiting, index) => {
      const answer = answers[index]!;
      this.countOutcome(waiting.item, answer);
      if (answer.ok) waiting.resolve(answer.outcome);
      else waiting.reject(answer.error);
    });
  }

  private async applyWithRetries(items: KeyedCommand[]): Promise<ItemAnswer[]> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await applyMoneyBatch(this.options.knex, items, this.options.present, (stage, seconds) =>
          this.metrics.stages.observe({ stage }, seconds),
        );
      } catch (error) {
        let failure = error;
        if (error instanceof CommitOutcomeUnknown) {
          if ((await this.settleCommit(error)) === 'committed') return error.answers;
          failure = error.cause;
        }
        if (!isRetryable(failure)) throw failure;
        if (attempt >= this.maxAttempts) {
          // Nothing of the batch was committed: a retry (with its key) is safe, so say so.
          throw new AppError('service_unavailable', 'The database is busy or unreachable; retry (with the same Idempotency-Key)', {
            cause: failure,
          });
        }
        this.metrics.retries.inc({ reason: isDatabaseUnavailable(failure) ? 'connection' : (sqlState(failure) ?? 'unknown') });
        // Batches that collided must not collide again in lockstep.
        await sleep(fullJitterBackoffMs(attempt + 1, { baseMs: 5, capMs: 1_000 }));
      }
    }
  }

  /**
   * Asks the commit log what became of a COMMIT whose reply was lost. Until it says, nobody is
   * answered and nothing is retried: 'in progress' (the server is still finishing it) and an
   * unreachable database are waited out.
   */
  private async settleCommit(unknown: CommitOutcomeUnknown): Promise<'committed' | 'aborted'> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const status = await transactionStatus(this.options.knex, unknown.xid);
        if (status !== 'in progress') {
          this.metrics.ambiguous.inc({ resolution: status });
          this.options.logger.warn({ xid: unknown.xid, status, err: unknown.cause }, 'COMMIT reply lost; settled from the commit log');
          return status;
        }
      } catch (error) {
        this.options.logger.warn({ err: error, xid: unknown.xid }, 'cannot read the commit log yet; waiting');
      }
      await sleep(fullJitterBackoffMs(attempt + 1, { baseMs: 20, capMs: 1_000 }));
    }
  }

  /** Counts an answered operation in wallet_operations_total by its outcome (and a replay in wallet_idempotent_replays_total). */
  private countOutcome(item: KeyedCommand, answer: ItemAnswer): void {
    const operation = endpointOf(item.command);
    if (!answer.ok) {
      this.metrics.operations.inc({ operation, outcome: answer.error.code });
      return;
    }
    const { status, body, replayed } = answer.outcome;
    const code = status >= 400 ? String(body.code) : 'ok';
    this.metrics.operations.inc({ operation, outcome: replayed ? `replayed_${code}` : code });
    if (replayed) this.metrics.replays.inc({ operation });
  }

  /** Counts an operation that failed before it had an answer, by its error code. */
  private countErrorOutcome(item: KeyedCommand, error: unknown): void {
    const code = isAppError(error) ? error.code : 'internal_error';
    this.metrics.operations.inc({ operation: endpointOf(item.command), outcome: code });
  }
}
