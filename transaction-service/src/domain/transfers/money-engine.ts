import {
  AppError,
  BATCH_SIZE_BUCKETS,
  declareMetrics,
  fullJitterBackoffMs,
  isAppError,
  isDatabaseUnavailable,
  isRetryableTransactionError,
  sleep,
  sqlState,
  type Knex,
  type Logger,
  type MetricsRegistry,
} from '@wallet/platform';
import { randomUUID } from 'node:crypto';
import type { LockMode } from '../../data-access/money-batch-repository';
import { poolSettler, type BatchOutcome, type BatchSettler } from '../../data-access/money-transaction';
import { applyMoneyBatch, CommitOutcomeUnknown, type BatchResult, type ItemAnswer, type Presenter } from './apply-money-batch';
import { endpointOf, type AnsweredOutcome, type KeyedCommand } from './money-command';
import { usersOf } from './money-rules';

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
  /**
   * How a lost COMMIT is settled, on connections apart from the batches' (so settling never waits
   * for a batch slot); their lock_timeout bounds each wait for the unsettled batch, and each attempt
   * has a deadline of its own (connectionPerAttemptSettler). Default: a settler on knex's pool.
   */
  settler?: BatchSettler;
  /**
   * Client-side deadline of a batch's statements before COMMIT: past it the connection is dropped
   * and the batch re-runs (nothing was committed). Guards a connection gone half-open, which no
   * server-side timeout can answer. Default 35 s (the statement timeout, 30 s, and a margin).
   */
  batchDeadlineMs?: number;
  /**
   * The batches' lock_timeout (set on knex's connections): after one, the batch re-runs skipping
   * held rows, and an item set aside waits this long before it is tried again.
   */
  lockTimeoutMs?: number;
  /** Times an item is set aside (its user's row held elsewhere) before it is answered 503. */
  maxLockRetries?: number;
  /** A COMMIT with no reply within this long is settled as lost, freeing the batch slot. */
  commitTimeoutMs?: number;
}

interface Waiting {
  item: KeyedCommand;
  resolve: (outcome: AnsweredOutcome) => void;
  reject: (error: unknown) => void;
  /** Re-runs after its batch was settled as aborted. */
  reruns: number;
  /** Times it was set aside because a user's row was held elsewhere. */
  setAsides: number;
}

/** How long a user found holding a lock is skipped rather than waited for, and how many are remembered. */
const HELD_USER_MEMORY_MS = 60_000;
const HELD_USERS_MAX = 10_000;
/**
 * A lost COMMIT is settled within the marker's retention (>= 24 h from the batch's start, with the
 * idempotency keys), less a margin: a settle must never look for a marker the purge may have taken.
 */
const SETTLE_MAX_MS = 23 * 3_600_000;

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

const LOCK_TIMEOUT = '55P03';

type MoneyEngineMetrics = ReturnType<typeof declareMoneyEngineMetrics>;

/** The engine's metrics; the queue depth is read from the queue itself at scrape time. */
function declareMoneyEngineMetrics(registry: MetricsRegistry, queue: readonly Waiting[], queueLimit: number) {
  const metric = declareMetrics(registry);
  // Exported so an alert can compare the depth with the limit of the process it scrapes, whatever
  // MONEY_QUEUE_LIMIT each one runs with.
  metric.gaugeReading('wallet_money_queue_limit', 'MONEY_QUEUE_LIMIT: queued operations beyond which money requests are answered 503', () => queueLimit);
  const ambiguous = metric.counter<'resolution'>(
    'wallet_money_ambiguous_commits_total',
    'COMMITs whose reply was lost, by what the batch marker showed',
    ['resolution'],
    { presentAtZero: (['committed', 'aborted'] satisfies BatchOutcome[]).map((resolution) => ({ resolution })) },
  );
  return {
    operations: metric.counter('wallet_operations_total', 'Money operations by outcome (ok or the error code)', ['operation', 'outcome']),
    replays: metric.counter('wallet_idempotent_replays_total', 'Requests answered from a stored idempotent outcome', ['operation']),
    batchSize: metric.histogram('wallet_money_batch_size', 'Operations per money batch (one database transaction)', BATCH_SIZE_BUCKETS),
    // Read at scrape time: the queue is the truth, the gauge only reports it.
    queueDepth: metric.gaugeReading('wallet_money_queue_depth', 'Validated money operations waiting for a batch', () => queue.length),
    retries: metric.counter('wallet_money_batch_retries_total', 'Money batches re-run or split, by reason', ['reason']),
    stages: metric.histogram(
      'wallet_money_batch_stage_seconds',
      'Time of each stage of a money batch (begin, claim, lock, holds, decide, write, commit)',
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      ['stage'],
    ),
    ambiguous,
    settleSeconds: metric.histogram(
      'wallet_money_commit_settle_seconds',
      'Time from a lost COMMIT reply to its settlement (its callers wait this long)',
      [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300],
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
 * batch in halves (in order) until the failing item is alone, which alone answers 500. A row held
 * elsewhere past lock_timeout makes the batch re-run skipping held rows: only the items on those
 * users wait (set aside, then 503). A COMMIT whose reply was lost is settled from the batch's
 * marker row in the background, off the batch slots, before anyone in it is answered or retried
 * (ADR 6), so an operation without a key can never run twice and other batches keep moving.
 */
export class MoneyEngine {
  private readonly queue: Waiting[] = [];
  private inFlight = 0;
  /** Items not in the queue and not in a running batch: being settled, or set aside for a while. */
  private parked = 0;
  private stopping = false;
  private idle: (() => void) | undefined;
  private readonly maxAttempts: number;
  private readonly metrics: MoneyEngineMetrics;
  /** Users whose rows were found held elsewhere, and when: their batches skip held rows. */
  private readonly heldUsers = new Map<string, number>();
  private readonly settler: BatchSettler;

  constructor(private readonly options: MoneyEngineOptions) {
    this.maxAttempts = options.maxAttempts ?? 8;
    this.settler = options.settler ?? poolSettler(options.knex);
    this.metrics = declareMoneyEngineMetrics(options.metrics, this.queue, options.queueLimit);
  }

  /** Queues a validated operation; resolves with its response once its batch has committed. */
  submit(item: KeyedCommand): Promise<AnsweredOutcome> {
    if (this.stopping) {
      return Promise.reject(new AppError('service_unavailable', 'The service is shutting down; retry shortly'));
    }
    if (this.queue.length + this.parked >= this.options.queueLimit) {
      this.countOutcome(item, { ok: false, error: new AppError('service_unavailable') });
      return Promise.reject(
        new AppError('service_unavailable', 'Too many money operations are waiting; retry shortly (with the same Idempotency-Key)'),
      );
    }
    return new Promise<AnsweredOutcome>((resolve, reject) => {
      this.queue.push({ item, resolve, reject, reruns: 0, setAsides: 0 });
      this.pump();
    });
  }

  /**
   * Queues the operations of an atomic batch as one unit: they stay together in one database batch
   * (never split, never cut by the batch size) and are applied all, in order, or none (ADR 13).
   * Resolves with each one's own outcome, in order (a refusal of one is not the others'); rejects
   * only when nothing was queued (queue full, shutting down).
   */
  submitAtomic(items: readonly KeyedCommand[]): Promise<Array<PromiseSettledResult<AnsweredOutcome>>> {
    if (this.stopping || this.queue.length + this.parked + items.length > this.options.queueLimit) {
      const reason = this.stopping ? 'The service is shutting down' : 'Too many money operations are waiting';
      return Promise.reject(new AppError('service_unavailable', `${reason}; retry shortly (with the same keys)`));
    }
    const group = randomUUID();
    const answers = items.map(
      (item) =>
        new Promise<AnsweredOutcome>((resolve, reject) => {
          this.queue.push({ item: { ...item, group }, resolve, reject, reruns: 0, setAsides: 0 });
        }),
    );
    this.pump();
    return Promise.allSettled(answers);
  }

  /** Stops taking operations and waits until every queued, running and parked one has been answered. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.isIdle()) return;
    await new Promise<void>((resolve) => {
      this.idle = resolve;
    });
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && this.inFlight === 0 && this.parked === 0;
  }

  private pump(): void {
    while (this.inFlight < this.options.maxBatchesInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, takeWholeGroups(this.queue, this.options.maxBatchSize));
      this.inFlight += 1;
      this.metrics.batchSize.observe(batch.length);
      void this.runBatch(batch).finally(() => {
        this.inFlight -= 1;
        this.pumpOrSignalIdle();
      });
    }
  }

  private pumpOrSignalIdle(): void {
    if (this.queue.length > 0) this.pump();
    else if (this.isIdle()) this.idle?.();
  }

  /** Applies a batch and answers every item; splits it on an error no retry can cure. */
  private async runBatch(batch: Waiting[]): Promise<void> {
    let run: Awaited<ReturnType<MoneyEngine['applyWithRetries']>>;
    try {
      run = await this.applyWithRetries(batch.map((w) => w.item));
    } catch (error) {
      await this.failOrSplit(batch, error);
      return;
    }
    if (run instanceof CommitOutcomeUnknown) this.settleInBackground(batch, run);
    else this.answer(batch, run);
  }

  private async failOrSplit(batch: Waiting[], error: unknown): Promise<void> {
    if (batch.length === 1 || isAppError(error)) {
      // (One item, or a refusal that concerns every item: nothing to split.)
      if (!isAppError(error)) {
        this.options.logger.error({ err: error, operation: endpointOf(batch[0]!.item.command) }, 'money operation failed');
      }
      for (const waiting of batch) this.fail(waiting, error);
      return;
    }
    // An error that is no retry's business: find the item that causes it, in arrival order. An
    // atomic batch is never split: alone, it fails as a whole.
    const half = splitPoint(batch);
    if (half === undefined) {
      for (const waiting of batch) this.fail(waiting, error);
      return;
    }
    this.metrics.retries.inc({ reason: 'split' });
    this.options.logger.warn({ err: error, size: batch.length }, 'money batch failed; splitting it');
    await this.runBatch(batch.slice(0, half));
    await this.runBatch(batch.slice(half));
  }

  /** Releases a committed batch's answers; items set aside on held rows wait or get 503. */
  private answer(batch: Waiting[], result: BatchResult): void {
    this.learnHeldUsers(result);
    const setAside: Array<{ waiting: Waiting; error: AppError }> = [];
    batch.forEach((waiting, index) => {
      const answer = result.answers[index]!;
      if (!answer.ok && answer.setAside) {
        setAside.push({ waiting, error: answer.error });
        return;
      }
      this.countOutcome(waiting.item, answer);
      if (answer.ok) waiting.resolve(answer.outcome);
      else waiting.reject(answer.error);
    });
    if (setAside.length > 0) this.retryLater(setAside);
  }

  private fail(waiting: Waiting, error: unknown): void {
    this.countErrorOutcome(waiting.item, error);
    waiting.reject(error);
  }

  /**
   * Runs a batch, re-running it after a retryable failure (at most maxAttempts times). Returns the
   * batch's result, or the CommitOutcomeUnknown to settle. After a lock timeout the re-run skips
   * held rows, as does a batch touching a user already known to be held.
   */
  private async applyWithRetries(items: KeyedCommand[]): Promise<BatchResult | CommitOutcomeUnknown> {
    let lockMode = this.lockModeFor(items);
    for (let attempt = 1; attempt <= this.maxAttempts; attempt += 1) {
      try {
        return await applyMoneyBatch(this.options.knex, items, this.options.present, {
          lockMode,
          commitTimeoutMs: this.options.commitTimeoutMs,
          deadlineMs: this.options.batchDeadlineMs ?? 35_000,
          observe: (stage, seconds) => this.metrics.stages.observe({ stage }, seconds),
        });
      } catch (error) {
        if (error instanceof CommitOutcomeUnknown) return error;
        if (!isRetryable(error) || attempt === this.maxAttempts) throw this.noRetryLeft(error);
        const reason = isDatabaseUnavailable(error) ? 'connection' : (sqlState(error) ?? 'unknown');
        this.metrics.retries.inc({ reason });
        if (reason === LOCK_TIMEOUT) {
          lockMode = 'skip-locked';
          continue;
        }
        // Batches that collided must not collide again in lockstep.
        await sleep(fullJitterBackoffMs(attempt + 1, { baseMs: 5, capMs: 1_000 }));
      }
    }
    throw new Error('unreachable: the last attempt returns or throws');
  }

  /** Nothing of the batch was committed: when the failure was retryable, a retry (with its key) is safe, so say so. */
  private noRetryLeft(error: unknown): unknown {
    if (!isRetryable(error)) return error;
    return new AppError('service_unavailable', 'The database is busy or unreachable; retry (with the same Idempotency-Key)', { cause: error });
  }

  private lockModeFor(items: readonly KeyedCommand[]): LockMode {
    if (this.heldUsers.size === 0) return 'wait';
    const now = Date.now();
    const held = items.some((item) =>
      usersOf(item.command).some((id) => {
        const since = this.heldUsers.get(id);
        return since !== undefined && now - since < HELD_USER_MEMORY_MS;
      }),
    );
    return held ? 'skip-locked' : 'wait';
  }

  /** Remembers users found held (bounded), forgets users this batch could lock. */
  private learnHeldUsers(result: BatchResult): void {
    for (const id of result.lockedUsers) this.heldUsers.delete(id);
    const now = Date.now();
    for (const id of result.heldUsers) {
      if (this.heldUsers.size >= HELD_USERS_MAX) this.heldUsers.delete(this.heldUsers.keys().next().value!);
      this.heldUsers.set(id, now);
    }
  }

  /**
   * Items set aside on held rows (in arrival order): tried again together after lockTimeoutMs, at
   * most maxLockRetries times each, then 503. They go back to the front of the queue as ONE block,
   * so they keep their arrival order (one unshift per item would reverse them).
   */
  private retryLater(setAside: Array<{ waiting: Waiting; error: AppError }>): void {
    const again: Waiting[] = [];
    for (const { waiting, error } of setAside) {
      waiting.setAsides += 1;
      this.metrics.retries.inc({ reason: 'row_held' });
      if (waiting.setAsides > (this.options.maxLockRetries ?? 2)) this.fail(waiting, error);
      else again.push(waiting);
    }
    if (again.length === 0) return;
    this.parked += again.length;
    setTimeout(() => {
      this.parked -= again.length;
      this.queue.unshift(...again);
      this.pump();
    }, this.options.lockTimeoutMs ?? 1_000);
  }

  /**
   * Settles a batch whose COMMIT reply was lost, off the batch slots: other batches keep running
   * while nobody in this one is answered. Committed: its answers are released. Aborted: nothing
   * of it happened, so its items run again (first in the queue), at most maxAttempts times.
   */
  private settleInBackground(batch: Waiting[], unknown: CommitOutcomeUnknown): void {
    this.parked += batch.length;
    void this.settleCommit(unknown)
      .then(
        (outcome) => (outcome === 'committed' ? this.answer(batch, unknown.result) : this.rerun(batch, unknown)),
        (error: unknown) => batch.forEach((waiting) => this.fail(waiting, error)),
      )
      .finally(() => {
        this.parked -= batch.length;
        this.pumpOrSignalIdle();
      });
  }

  private rerun(batch: Waiting[], unknown: CommitOutcomeUnknown): void {
    const again = batch.filter((waiting) => {
      waiting.reruns += 1;
      if (waiting.reruns < this.maxAttempts) return true;
      this.fail(waiting, this.noRetryLeft(unknown.cause));
      return false;
    });
    this.queue.unshift(...again);
  }

  /**
   * Learns a lost COMMIT's fate from the batch's marker (settleBatchOutcome): durable evidence, so
   * sound across a crash of PostgreSQL. While the batch's transaction is still open (its backend
   * alive, its COMMIT perhaps held somewhere), the settle waits lock_timeout, then ends that
   * backend. An unreachable database is waited out with capped backoff; each attempt is bounded
   * by the settle connection's lock and statement timeouts.
   */
  private async settleCommit(unknown: CommitOutcomeUnknown): Promise<BatchOutcome> {
    const settler = this.settler;
    const started = performance.now();
    for (let attempt = 1; performance.now() - started < SETTLE_MAX_MS; attempt += 1) {
      try {
        const outcome = await settler.outcome(unknown.batchId);
        this.reportSettled(unknown, outcome, (performance.now() - started) / 1_000, attempt);
        return outcome;
      } catch (error) {
        if (sqlState(error) === LOCK_TIMEOUT && unknown.backend) {
          const ended = await settler.endBackend(unknown.backend).catch(() => false);
          this.options.logger.warn({ batchId: unknown.batchId, backend: unknown.backend, ended }, 'lost COMMIT still open; ended its backend');
          continue;
        }
        if (attempt === 1 || attempt % 10 === 0) {
          this.options.logger.warn({ err: error, batchId: unknown.batchId, attempt }, 'cannot settle a lost COMMIT yet; waiting');
        }
      }
      await sleep(fullJitterBackoffMs(attempt + 1, { baseMs: 20, capMs: 2_000 }));
    }
    throw new AppError('internal_error', 'The outcome of this operation could not be settled; check the history before retrying');
  }

  private reportSettled(unknown: CommitOutcomeUnknown, outcome: BatchOutcome, seconds: number, attempts: number): void {
    this.metrics.ambiguous.inc({ resolution: outcome });
    this.metrics.settleSeconds.observe({ resolution: outcome }, seconds);
    this.options.logger.warn(
      { batchId: unknown.batchId, outcome, waitedMs: Math.round(seconds * 1_000), attempts, items: unknown.result.answers.length, err: unknown.cause },
      'COMMIT reply lost; settled from the batch marker',
    );
  }

  /** Counts an answered operation in wallet_operations_total by its outcome (and a replay in wallet_idempotent_replays_total). */
  private countOutcome(item: KeyedCommand, answer: ItemAnswer): void {
    const operation = endpointOf(item.command);
    if (!answer.ok) {
      this.metrics.operations.inc({ operation, outcome: answer.error.code });
      return;
    }
    const { replayed } = answer.outcome;
    this.metrics.operations.inc({ operation, outcome: replayed ? `replayed_${answer.code}` : answer.code });
    if (replayed) this.metrics.replays.inc({ operation });
  }

  /** Counts an operation that failed before it had an answer, by its error code. */
  private countErrorOutcome(item: KeyedCommand, error: unknown): void {
    const code = isAppError(error) ? error.code : 'internal_error';
    this.metrics.operations.inc({ operation: endpointOf(item.command), outcome: code });
  }
}

/**
 * How many queued items the next batch takes: up to `max`, but never part of an atomic batch — one
 * cut in two is extended to its end (so an atomic batch larger than `max` goes alone, whole).
 */
function takeWholeGroups(queue: readonly Waiting[], max: number): number {
  let take = Math.min(max, queue.length);
  const group = queue[take - 1]?.item.group;
  while (group !== undefined && take < queue.length && queue[take]!.item.group === group) take += 1;
  return take;
}

/** Where to halve a failed batch without cutting an atomic batch; undefined when it is one atomic batch. */
function splitPoint(batch: readonly Waiting[]): number | undefined {
  const half = Math.ceil(batch.length / 2);
  for (let offset = 0; offset < batch.length; offset += 1) {
    for (const at of [half - offset, half + offset]) {
      if (at <= 0 || at >= batch.length) continue;
      const before = batch[at - 1]!.item.group;
      if (before === undefined || before !== batch[at]!.item.group) return at;
    }
  }
  return undefined;
}
