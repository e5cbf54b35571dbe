import type { BalanceNatsSettings, OwnedDatabaseSettings } from '../config/process-settings';
import { createKnexFromSettings, type Knex } from '../db/create-knex';
import { migrateServiceSchema, type ServiceMigrations } from '../db/migrate';
import type { Logger } from '../logging/create-logger';
import { createMetricsRegistry, registerPoolMetrics, type MetricsRegistry } from '../metrics/create-metrics';
import { connectNatsFromSettings, type NatsConnection } from '../nats/connect-nats';

export interface ServiceResources {
  /** The service's own pool (its DML-only login), its use exported in `metrics`. */
  knex: Knex;
  metrics: MetricsRegistry;
  nats: NatsConnection;
}

/**
 * The first start-up steps of a service that owns its database and answers or asks over NATS
 * (user-service, transaction-service): its schema migrated as the owner, its pool and metrics
 * registry, its NATS connection. Fails fast when PostgreSQL or NATS is unreachable, and then
 * leaves nothing open.
 */
export async function openServiceResources(
  service: string,
  config: OwnedDatabaseSettings & BalanceNatsSettings,
  deps: { schema: ServiceMigrations; logger: Logger },
): Promise<ServiceResources> {
  const { schema, logger } = deps;
  await migrateServiceSchema({ service, migrationDatabaseUrl: config.migrationDatabaseUrl, schema, logger });
  const knex = createKnexFromSettings(config, service);
  const metrics = createMetricsRegistry(service);
  registerPoolMetrics(knex, metrics);
  try {
    return { knex, metrics, nats: await connectNatsFromSettings(config, service, logger) };
  } catch (error) {
    await knex.destroy();
    throw error;
  }
}
