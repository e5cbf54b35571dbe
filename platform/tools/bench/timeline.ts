/**
 * The run second by second, for the HTML report: what the client saw (answers, their latency and
 * status) and what transaction-service did (its money batches, from its own /metrics, sampled
 * every second during the load).
 */
import { metricValue, percentile, scrapeMetrics, type TransferLoadResult } from '@wallet/platform/testkit';

export interface SecondOfRun {
  /** Seconds since the load started: answers that came in [second, second + 1). */
  second: number;
  requests: number;
  /** Answers 201: transfers committed (a duplicate's replay counts again). */
  committed: number;
  p50: number;
  p95: number;
  p99: number;
  statuses: Record<string, number>;
  /** Money batches transaction-service committed in that second, and their mean size (when sampled). */
  batches?: number;
  meanBatchSize?: number;
}

export interface BatchSample {
  second: number;
  batches: number;
  operations: number;
}

export function perSecond(load: TransferLoadResult, batches: readonly BatchSample[] = []): SecondOfRun[] {
  const bins = new Map<number, { ms: number[]; statuses: Record<string, number> }>();
  for (const sample of load.samples) {
    const second = Math.max(0, Math.floor((sample.at - load.startedAt) / 1000));
    const bin = bins.get(second) ?? { ms: [], statuses: {} };
    bin.ms.push(sample.ms);
    bin.statuses[String(sample.status)] = (bin.statuses[String(sample.status)] ?? 0) + 1;
    bins.set(second, bin);
  }
  const last = Math.max(-1, ...bins.keys());
  const round = (n: number) => Math.round(n * 10) / 10;
  return Array.from({ length: last + 1 }, (_, second) => {
    const bin = bins.get(second) ?? { ms: [], statuses: {} };
    const sorted = bin.ms.sort((a, b) => a - b);
    const batch = batches.find((b) => b.second === second);
    return {
      second,
      requests: sorted.length,
      committed: bin.statuses['201'] ?? 0,
      p50: round(percentile(sorted, 50)),
      p95: round(percentile(sorted, 95)),
      p99: round(percentile(sorted, 99)),
      statuses: bin.statuses,
      ...(batch ? { batches: batch.batches, meanBatchSize: batch.batches > 0 ? round(batch.operations / batch.batches) : 0 } : {}),
    };
  });
}

/**
 * Scrapes transaction-service's wallet_money_batch_size count and sum once a second until stopped;
 * each second's batches are the difference to the scrape before. A failed scrape leaves a gap
 * (the report shows none for that second) rather than stopping the bench.
 */
export function sampleMoneyBatches(txUrl: string): { stop(): Promise<BatchSample[]> } {
  const started = performance.now();
  const samples: BatchSample[] = [];
  let previous: { count: number; sum: number } | undefined;
  let stopped = false;
  const scrape = async (): Promise<void> => {
    try {
      const text = await scrapeMetrics(txUrl, 900);
      const now = { count: metricValue(text, 'wallet_money_batch_size_count') ?? 0, sum: metricValue(text, 'wallet_money_batch_size_sum') ?? 0 };
      const second = Math.round((performance.now() - started) / 1000) - 1;
      if (previous && second >= 0) samples.push({ second, batches: now.count - previous.count, operations: now.sum - previous.sum });
      previous = now;
    } catch {
      previous = undefined;
    }
  };
  const loop = (async () => {
    for (let tick = 0; !stopped; tick += 1) {
      await scrape();
      // Bounded: one scrape a second, each with its own 900 ms timeout.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + (tick + 1) * 1000 - performance.now())));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return samples;
    },
  };
}

/** How long the engine's batches waited for row locks during a run, from its own histogram. */
export interface LockWaits {
  batches: number;
  /** Batches whose lock stage took at most the bucket's bound (seconds), cumulative. */
  atMostSeconds: Record<string, number>;
  /** Re-runs after a lock timeout (55P03) and items set aside on a held row. */
  lockTimeouts: number;
  setAsides: number;
}

/**
 * Reads the lock stage of wallet_money_batch_stage_seconds and the lock-timeout counters once, at
 * the end of a run: the evidence for MONEY_LOCK_TIMEOUT_MS (BENCHMARKS.md, "Row locks held elsewhere").
 */
export async function readLockWaits(txUrl: string): Promise<LockWaits | undefined> {
  try {
    const text = await scrapeMetrics(txUrl, 2_000);
    const bounds = ['0.001', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1'];
    const atMostSeconds = Object.fromEntries(
      bounds.map((le) => [le, metricValue(text, 'wallet_money_batch_stage_seconds_bucket', { stage: 'lock', le }) ?? 0]),
    );
    return {
      batches: metricValue(text, 'wallet_money_batch_stage_seconds_count', { stage: 'lock' }) ?? 0,
      atMostSeconds,
      lockTimeouts: metricValue(text, 'wallet_money_batch_retries_total', { reason: '55P03' }) ?? 0,
      setAsides: metricValue(text, 'wallet_money_batch_retries_total', { reason: 'row_held' }) ?? 0,
    };
  } catch {
    return undefined;
  }
}
