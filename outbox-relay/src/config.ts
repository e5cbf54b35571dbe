import Joi from 'joi';
import {
  configFields,
  databaseSettings,
  defineConfig,
  httpListenerSettings,
  localPostgresUrl,
  moneyEventsKafkaSettings,
  userCreatedKafkaSettings,
  type ConfigOf,
} from '@wallet/platform';

export const outboxRelayConfig = defineConfig({
  // user-service's database, where the outbox table lives.
  ...databaseSettings({ role: 'outbox_relay', database: 'wallet_users', poolMax: 4 }),
  // Its Kafka principal may write the user-created topic...
  ...userCreatedKafkaSettings('outbox-relay'),
  /**
   * transaction-service's database, where the money outbox lives (ADR 10): the relay's own
   * DML-only login there. MONEY_EVENTS_ENABLED=false relays user-created events only.
   */
  moneyEventsEnabled: { env: 'MONEY_EVENTS_ENABLED', schema: Joi.boolean().default(true) },
  moneyEventsDatabaseUrl: {
    env: 'MONEY_EVENTS_DATABASE_URL',
    schema: configFields.postgresUrl(localPostgresUrl('outbox_relay', 'wallet_transactions')),
  },
  // ...and the money-events topic (the same login: WRITE there too, nothing else).
  ...moneyEventsKafkaSettings(),
  batchSize: { env: 'RELAY_BATCH_SIZE', schema: Joi.number().integer().min(1).max(1_000).default(500) },
  pollIntervalMs: { env: 'RELAY_POLL_INTERVAL_MS', schema: Joi.number().integer().min(10).default(1_000) },
  initialBackoffMs: { env: 'RELAY_INITIAL_BACKOFF_MS', schema: Joi.number().integer().min(1).default(200) },
  maxBackoffMs: { env: 'RELAY_MAX_BACKOFF_MS', schema: Joi.number().integer().min(1).default(30_000) },
  // The small /healthz, /readyz, /metrics server (PORT=0 picks a free port); it takes no request
  // body: anything bigger than 1 KiB is refused (413) before it is read.
  ...httpListenerSettings({ port: 3003, bodyLimitBytes: 1_024 }),
  logLevel: { env: 'LOG_LEVEL', schema: configFields.logLevel() },
});

export type OutboxRelayConfig = ConfigOf<typeof outboxRelayConfig>;

/** Reads and validates the environment (process.env by default); throws ConfigError listing every problem. */
export const loadOutboxRelayConfig = outboxRelayConfig.load;
