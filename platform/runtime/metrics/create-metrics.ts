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
