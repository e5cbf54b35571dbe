import { join } from 'node:path';
import Joi from 'joi';
import { defineConfig, type ConfigSpec, localPostgresUrl } from '@wallet/platform';
import { parseCents, REPO_ROOT, type TransferLoadOptions } from '@wallet/platform/testkit';

/** Where `make bench` leaves its machine-readable result for `make bench-db` to compare with. */
export const BENCH_RESULT_FILE = join(REPO_ROOT, '.run', 'bench-result.json');

/** The shape of a load run, shared by `make bench` (BENCH_*) and `make chaos` (CHAOS_*). */
export interface LoadShape {
  users: number;
  transfers: number;
  concurrency: number;
  hotPairShare: number;
  duplicateShare: number;
  invalidShare: number;
  fundingMinor: bigint;
  maxAmountMinor: bigint;
}

export interface LoadShapeEnv extends Omit<LoadShape, 'fundingMinor' | 'maxAmountMinor'> {
  funding: string;
  maxAmount: string;
}

const amount = () => Joi.string().pattern(/^\d{1,12}\.\d{2}$/);
const share = (fallback: number) => Joi.number().min(0).max(1).default(fallback);

/**
 * The load-shape settings under a prefix. Each wallet starts with `funding` and no transfer moves
 * more than `maxAmount`, so with the defaults no wallet runs dry: every transfer is a real money
 * movement, not a cheap refusal.
 */
export function loadShapeSpec(
  prefix: 'BENCH' | 'CHAOS',
  defaults: { users: number; minUsers: number; transfers: number; concurrency: number },
): ConfigSpec<LoadShapeEnv> {
  return {
    users: { env: `${prefix}_USERS`, schema: Joi.number().integer().min(defaults.minUsers).max(100_000).default(defaults.users) },
    transfers: { env: `${prefix}_TRANSFERS`, schema: Joi.number().integer().min(1).default(defaults.transfers) },
    concurrency: { env: `${prefix}_CONCURRENCY`, schema: Joi.number().integer().min(1).max(10_000).default(defaults.concurrency) },
    hotPairShare: { env: `${prefix}_HOT_PAIR_SHARE`, schema: share(0.1) },
    duplicateShare: { env: `${prefix}_DUPLICATE_SHARE`, schema: share(0.1) },
    invalidShare: { env: `${prefix}_INVALID_SHARE`, schema: share(0.02) },
    funding: { env: `${prefix}_FUNDING`, schema: amount().default('10000.00') },
    maxAmount: { env: `${prefix}_MAX_AMOUNT`, schema: amount().default('10.00') },
  };
}

/** Converts the decimal-string amounts of a loaded load shape to cents. */
export function toLoadShape<T extends LoadShapeEnv>(raw: T): Omit<T, 'funding' | 'maxAmount'> & LoadShape {
  const { funding, maxAmount, ...rest } = raw;
  return { ...rest, fundingMinor: parseCents(funding), maxAmountMinor: parseCents(maxAmount) };
}

/** The load generator's options for a load shape, against `txUrl` among `userIds`. */
export function transferLoadOf(shape: LoadShape, txUrl: string, userIds: string[]): TransferLoadOptions {
  const { transfers, concurrency, hotPairShare, duplicateShare, invalidShare, maxAmountMinor } = shape;
  return { txUrl, userIds, transfers, concurrency, hotPairShare, duplicateShare, invalidShare, maxAmountMinor };
}

export interface BenchConfig extends LoadShape {
  userServiceUrl: string;
  transactionServiceUrl: string;
  /** transaction-service's operators' listener, serving GET /internal/reconcile. */
  transactionOperatorUrl: string;
  /** Only used when the operators' listener does not answer: the reconcile CLI is run against it. */
  transactionDatabaseUrl: string;
  arrivalTimeoutMs: number;
  resultFile: string;
  /** BENCH_STACK=private: start a private copy of the three processes instead of using the URLs. */
  privateStack: boolean;
}

/** The variables as read: BenchConfig before the amounts become cents and BENCH_STACK a flag. */
interface BenchEnv extends LoadShapeEnv, Omit<BenchConfig, keyof LoadShape | 'privateStack'> {
  stack: 'running' | 'private';
}

const benchConfig = defineConfig<BenchEnv>({
  userServiceUrl: { env: 'USER_SERVICE_URL', schema: Joi.string().uri().default('http://localhost:3001') },
  transactionServiceUrl: { env: 'TRANSACTION_SERVICE_URL', schema: Joi.string().uri().default('http://localhost:3002') },
  transactionOperatorUrl: { env: 'TRANSACTION_OPERATOR_URL', schema: Joi.string().uri().default('http://127.0.0.1:3102') },
  transactionDatabaseUrl: {
    env: 'TRANSACTION_DATABASE_URL',
    schema: Joi.string()
      .uri({ scheme: ['postgres', 'postgresql'] })
      .default(localPostgresUrl('postgres', 'wallet_transactions')),
  },
  ...loadShapeSpec('BENCH', { users: 50, minUsers: 2, transfers: 10_000, concurrency: 500 }),
  arrivalTimeoutMs: { env: 'BENCH_ARRIVAL_TIMEOUT_MS', schema: Joi.number().integer().min(1_000).default(120_000) },
  resultFile: { env: 'BENCH_RESULT_FILE', schema: Joi.string().default(BENCH_RESULT_FILE) },
  stack: { env: 'BENCH_STACK', schema: Joi.string<'running' | 'private'>().valid('running', 'private').default('running') },
});

export function loadBenchConfig(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  const { stack, userServiceUrl, transactionServiceUrl, transactionOperatorUrl, ...rest } = toLoadShape(benchConfig.load(env));
  return {
    ...rest,
    userServiceUrl: userServiceUrl.replace(/\/$/, ''),
    transactionServiceUrl: transactionServiceUrl.replace(/\/$/, ''),
    transactionOperatorUrl: transactionOperatorUrl.replace(/\/$/, ''),
    privateStack: stack === 'private',
  };
}
