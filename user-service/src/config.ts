import Joi from 'joi';
import { BALANCE_SUBJECT, configFields, defineConfig, localPostgresUrl } from '@wallet/platform';

export interface UserServiceConfig {
  host: string;
  port: number;
  /** The service's own login: only the DML it needs (see db/README.md). */
  databaseUrl: string;
  /** The database owner's login, used only to apply the migrations at start-up. */
  migrationDatabaseUrl: string;
  dbPoolMax: number;
  dbStatementTimeoutMs: number;
  natsUrl: string;
  /** Its NATS login: may publish balance requests and read replies on its own inbox only. */
  natsUser: string;
  natsPassword: string;
  balanceSubject: string;
  balanceTimeoutMs: number;
  balanceMaxOutstanding: number;
  /** Emails whose user is remembered for GET /balance (0: none). */
  userLookupCacheSize: number;
  httpBodyLimitBytes: number;
  logLevel: string;
}

export const userServiceConfig = defineConfig<UserServiceConfig>({
  host: { env: 'HOST', schema: configFields.host() },
  port: { env: 'PORT', schema: configFields.port(3001) },
  databaseUrl: { env: 'DATABASE_URL', schema: configFields.postgresUrl(localPostgresUrl('user_service', 'wallet_users')) },
  migrationDatabaseUrl: {
    env: 'MIGRATION_DATABASE_URL',
    schema: configFields.postgresUrl(localPostgresUrl('wallet_users_owner', 'wallet_users')),
  },
  dbPoolMax: { env: 'DB_POOL_MAX', schema: configFields.positiveInt(20) },
  dbStatementTimeoutMs: { env: 'DB_STATEMENT_TIMEOUT_MS', schema: configFields.statementTimeoutMs() },
  natsUrl: { env: 'NATS_URL', schema: configFields.natsUrl() },
  natsUser: { env: 'NATS_USER', schema: configFields.brokerUser('user-service') },
  natsPassword: { env: 'NATS_PASSWORD', schema: configFields.brokerPassword() },
  balanceSubject: { env: 'BALANCE_SUBJECT', schema: Joi.string().pattern(/^[A-Za-z0-9_.-]+$/).default(BALANCE_SUBJECT) },
  balanceTimeoutMs: { env: 'BALANCE_TIMEOUT_MS', schema: Joi.number().integer().min(1).max(60_000).default(2_000) },
  balanceMaxOutstanding: { env: 'BALANCE_MAX_OUTSTANDING', schema: Joi.number().integer().min(1).max(100_000).default(1_000) },
  userLookupCacheSize: { env: 'USER_LOOKUP_CACHE_SIZE', schema: Joi.number().integer().min(0).max(10_000_000).default(100_000) },
  httpBodyLimitBytes: { env: 'HTTP_BODY_LIMIT_BYTES', schema: configFields.positiveInt(65_536) },
  logLevel: { env: 'LOG_LEVEL', schema: configFields.logLevel() },
});

export function loadUserServiceConfig(env: NodeJS.ProcessEnv = process.env): UserServiceConfig {
  return userServiceConfig.load(env);
}
