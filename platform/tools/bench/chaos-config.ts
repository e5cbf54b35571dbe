import { join } from 'node:path';
import Joi from 'joi';
import { configFields, defineConfig } from '@wallet/platform';
import { REPO_ROOT } from '@wallet/platform/testkit';
import { loadShapeSpec, toLoadShape, type LoadShape, type LoadShapeEnv } from './bench-config';

interface ChaosEnv extends LoadShapeEnv {
  /** How many times transaction-service is killed with SIGKILL and restarted during the transfers. */
  kills: number;
  killDownMs: number;
  restartPostgres: boolean;
  /** PostgreSQL stopped with -m immediate (no checkpoint, open COMMITs lost) and started again. */
  crashPostgres: boolean;
  /** One transaction_service backend SIGKILLed: the postmaster resets every backend (the OOM killer). */
  killPostgresBackend: boolean;
  /** How long the backend kill waits for a backend caught in COMMIT before it takes any busy one. */
  backendKillAimMs: number;
  /** The transfers must all have a definitive answer within this: past it the run is a hang (a failure). */
  loadTimeoutMs: number;
  /** 0 disables the Kafka outage. */
  kafkaOutageMs: number;
  /** 0 disables the NATS outage. */
  natsOutageMs: number;
  /** A balance request that takes longer than this is a hang (a failure). */
  balanceClientTimeoutMs: number;
  /** While NATS is away, every answer must come back within this (user-service's 503/504 path). */
  balanceFastFailMs: number;
  recoveryTimeoutMs: number;
  relayMaxBackoffMs: number;
  logLevel: string;
  resultFile: string;
}

/** The chaos settings, amounts in cents. */
export type ChaosConfig = Omit<ChaosEnv, 'funding' | 'maxAmount'> & LoadShape;

const flag = (fallback: boolean) => Joi.boolean().truthy('1', 'yes', 'on').falsy('0', 'no', 'off').default(fallback);

const chaosConfig = defineConfig<ChaosEnv>({
  ...loadShapeSpec('CHAOS', { users: 40, minUsers: 4, transfers: 3_000, concurrency: 100 }),
  kills: { env: 'CHAOS_KILLS', schema: Joi.number().integer().min(0).max(20).default(3) },
  killDownMs: { env: 'CHAOS_KILL_DOWN_MS', schema: Joi.number().integer().min(0).default(1_000) },
  restartPostgres: { env: 'CHAOS_RESTART_POSTGRES', schema: flag(true) },
  crashPostgres: { env: 'CHAOS_CRASH_POSTGRES', schema: flag(true) },
  killPostgresBackend: { env: 'CHAOS_KILL_POSTGRES_BACKEND', schema: flag(true) },
  backendKillAimMs: { env: 'CHAOS_BACKEND_KILL_AIM_MS', schema: Joi.number().integer().min(0).max(60_000).default(3_000) },
  loadTimeoutMs: { env: 'CHAOS_LOAD_TIMEOUT_MS', schema: Joi.number().integer().min(10_000).default(600_000) },
  kafkaOutageMs: { env: 'CHAOS_KAFKA_OUTAGE_MS', schema: Joi.number().integer().min(0).default(20_000) },
  natsOutageMs: { env: 'CHAOS_NATS_OUTAGE_MS', schema: Joi.number().integer().min(0).default(6_000) },
  balanceClientTimeoutMs: { env: 'CHAOS_BALANCE_CLIENT_TIMEOUT_MS', schema: Joi.number().integer().min(100).default(10_000) },
  // user-service's BALANCE_TIMEOUT_MS (2 s) plus a margin: a 504 at the timeout is still a quick answer.
  balanceFastFailMs: { env: 'CHAOS_BALANCE_FAST_FAIL_MS', schema: Joi.number().integer().min(100).default(3_000) },
  recoveryTimeoutMs: { env: 'CHAOS_RECOVERY_TIMEOUT_MS', schema: Joi.number().integer().min(1_000).default(120_000) },
  relayMaxBackoffMs: { env: 'CHAOS_RELAY_MAX_BACKOFF_MS', schema: Joi.number().integer().min(10).default(2_000) },
  logLevel: { env: 'CHAOS_LOG_LEVEL', schema: configFields.logLevel().default('warn') },
  resultFile: { env: 'CHAOS_RESULT_FILE', schema: Joi.string().default(join(REPO_ROOT, '.run', 'chaos-result.json')) },
});

export function loadChaosConfig(env: NodeJS.ProcessEnv = process.env): ChaosConfig {
  return toLoadShape(chaosConfig.load(env));
}

/**
 * The short form the CI test runs (sized to finish well under two minutes). Every drill is on but
 * the two PostgreSQL crashes: `make test` runs on a cluster other people's tests share, and a crash
 * cuts their connections too; opt in with CHAOS_CRASH_POSTGRES=1 CHAOS_KILL_POSTGRES_BACKEND=1
 * (and CHAOS_TRANSFERS=3000, so six drills leave load between them).
 */
export const SHORT_CHAOS_ENV: Record<string, string> = {
  CHAOS_USERS: '20',
  CHAOS_TRANSFERS: '600',
  CHAOS_CONCURRENCY: '50',
  CHAOS_KILLS: '3',
  CHAOS_KILL_DOWN_MS: '500',
  CHAOS_KAFKA_OUTAGE_MS: '8000',
  CHAOS_NATS_OUTAGE_MS: '4000',
  CHAOS_RECOVERY_TIMEOUT_MS: '60000',
  CHAOS_CRASH_POSTGRES: '0',
  CHAOS_KILL_POSTGRES_BACKEND: '0',
  CHAOS_LOAD_TIMEOUT_MS: '300000',
};

export type DrillStatus = 'passed' | 'failed' | 'skipped';

export interface DrillResult {
  /**
   * Stable identifier, e.g. kill-transaction-service-1, restart-postgres, crash-postgres,
   * kill-postgres-backend, kafka-outage, nats-outage.
   */
  id: string;
  name: string;
  status: DrillStatus;
  detail: string;
}

/** What `make chaos` writes to CHAOS_RESULT_FILE. */
export interface ChaosResult {
  ok: boolean;
  drills: DrillResult[];
  invariants: Array<{ name: string; ok: boolean; detail: string }>;
  durationSeconds: number;
}
