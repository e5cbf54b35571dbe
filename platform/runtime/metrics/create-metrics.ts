import client from 'prom-client';

export type MetricsRegistry = client.Registry;
export { client as promClient };

/**
 * One registry per process (not prom-client's global one), so tests that start several services
 * in one process do not collide, and each service names only its own metrics.
 */
export function createMetricsRegistry(service: string): client.Registry {
  const registry = new client.Registry();
  registry.setDefaultLabels({ service });
  client.collectDefaultMetrics({ register: registry });
  return registry;
}

export interface CounterOptions<L extends string> {
  /**
   * Label sets exported at 0 from the start, before anything counts them: an alert on increase()
   * needs a sample before the first increment, or the first one goes unseen.
   */
  presentAtZero?: ReadonlyArray<Partial<Record<L, string>>>;
}

/**
 * Declares metrics on one process's registry. prom-client wants `registers: [registry]` on every
 * metric, and one left without it lands on the global registry, which nothing scrapes; this binds
 * the registry once, so a declaration says only what is its own: name, help, labels, buckets.
 */
export function declareMetrics(registry: client.Registry) {
  const registers = [registry];
  return {
    counter: <L extends string = never>(name: string, help: string, labelNames: readonly L[] = [], options: CounterOptions<L> = {}) => {
      const counter = new client.Counter<L>({ name, help, labelNames, registers });
      for (const labels of options.presentAtZero ?? []) counter.inc(labels, 0);
      return counter;
    },
    histogram: <L extends string = never>(name: string, help: string, buckets: readonly number[], labelNames: readonly L[] = []) =>
      new client.Histogram<L>({ name, help, buckets: [...buckets], labelNames, registers }),
    /** A gauge the code sets itself. */
    gauge: <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
      new client.Gauge<L>({ name, help, labelNames, registers }),
    /**
     * A gauge read at scrape time from its source (the source is the truth, the gauge only reports
     * it); `read` returns undefined when the source cannot be read now, and the gauge is then left as it was.
     */
    gaugeReading: (name: string, help: string, read: () => number | undefined | Promise<number | undefined>) =>
      new client.Gauge({
        name,
        help,
        registers,
        async collect() {
          const value = await read();
          if (value !== undefined) this.set(value);
        },
      }),
  };
}

/** Bucket bounds for "how many items in one batch" histograms. */
export const BATCH_SIZE_BUCKETS: readonly number[] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000];

interface TarnPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
}

/** Exposes the knex (tarn) pool's use: connections in use, idle, and requests waiting for one. */
export function registerPoolMetrics(knex: { client: unknown }, registry: client.Registry): void {
  new client.Gauge({
    name: 'db_pool_connections',
    help: 'Database pool connections by state (used, free, pending acquires)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      // Read at scrape time: knex may replace its pool (e.g. after destroy/initialize).
      const pool = (knex.client as { pool?: TarnPool }).pool;
      if (!pool) return;
      this.set({ state: 'used' }, pool.numUsed());
      this.set({ state: 'free' }, pool.numFree());
      this.set({ state: 'pending' }, pool.numPendingAcquires());
    },
  });
}
