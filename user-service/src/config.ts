import Joi from 'joi';
import { apiServiceSettings, defineConfig, type ConfigOf } from '@wallet/platform';

export const userServiceConfig = defineConfig({
  // Its own login may only run the DML it needs (see db/README.md); its NATS login may publish
  // balance requests and read replies on its own inbox only.
  ...apiServiceSettings('user-service', {
    port: 3001,
    database: { role: 'user_service', ownerRole: 'wallet_users_owner', database: 'wallet_users', poolMax: 20 },
  }),
  balanceTimeoutMs: { env: 'BALANCE_TIMEOUT_MS', schema: Joi.number().integer().min(1).max(60_000).default(2_000) },
  balanceMaxOutstanding: { env: 'BALANCE_MAX_OUTSTANDING', schema: Joi.number().integer().min(1).max(100_000).default(1_000) },
  /** Emails whose user is remembered for GET /balance (0: none). */
  userLookupCacheSize: { env: 'USER_LOOKUP_CACHE_SIZE', schema: Joi.number().integer().min(0).max(10_000_000).default(100_000) },
});

export type UserServiceConfig = ConfigOf<typeof userServiceConfig>;

/** Reads and validates the environment (process.env by default); throws ConfigError listing every problem. */
export const loadUserServiceConfig = userServiceConfig.load;
