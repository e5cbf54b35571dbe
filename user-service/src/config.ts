import Joi from 'joi';
import {
  balanceNatsSettings,
  configFields,
  defineConfig,
  httpListenerSettings,
  ownedDatabaseSettings,
  type ConfigOf,
} from '@wallet/platform';

export const userServiceConfig = defineConfig({
  ...httpListenerSettings(3001),
  // Its own login may only run the DML it needs (see db/README.md).
  ...ownedDatabaseSettings({ role: 'user_service', ownerRole: 'wallet_users_owner', database: 'wallet_users', poolMax: 20 }),
  // Its NATS login may publish balance requests and read replies on its own inbox only.
  ...balanceNatsSettings('user-service'),
  balanceTimeoutMs: { env: 'BALANCE_TIMEOUT_MS', schema: Joi.number().integer().min(1).max(60_000).default(2_000) },
  balanceMaxOutstanding: { env: 'BALANCE_MAX_OUTSTANDING', schema: Joi.number().integer().min(1).max(100_000).default(1_000) },
  /** Emails whose user is remembered for GET /balance (0: none). */
  userLookupCacheSize: { env: 'USER_LOOKUP_CACHE_SIZE', schema: Joi.number().integer().min(0).max(10_000_000).default(100_000) },
  httpBodyLimitBytes: { env: 'HTTP_BODY_LIMIT_BYTES', schema: configFields.positiveInt(65_536) },
  logLevel: { env: 'LOG_LEVEL', schema: configFields.logLevel() },
});

export type UserServiceConfig = ConfigOf<typeof userServiceConfig>;

export function loadUserServiceConfig(env: NodeJS.ProcessEnv = process.env): UserServiceConfig {
  return userServiceConfig.load(env);
}
