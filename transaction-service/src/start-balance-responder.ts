import { withTimeout, type Logger, type MetricsRegistry, type NatsConnection } from '@wallet/platform';
import type { TransactionServiceConfig } from './config';
import { answerBalanceRequests } from './entry-points/nats/answer-balance-requests';
import { StatementQueries } from './domain/statements';
import { createReadAtInstantPool } from './data-access/wallet-read-view';

/**
 * The NATS balance responder with its own small pool, apart from the pool of the HTTP money
 * operations: however many balance requests arrive, they hold at most BALANCE_DB_POOL_MAX
 * connections, and a transfer never waits behind them for one.
 */
export async function startBalanceResponder(
  config: TransactionServiceConfig,
  deps: { nats: NatsConnection; logger: Logger; metrics: MetricsRegistry },
): Promise<{ stop(): Promise<void> }> {
  // Made for reads at an instant too (requests with as_of wait for their user's writers): its
  // lock_timeout and asynchronous commits change nothing for the current balances, which lock nothing.
  const knex = createReadAtInstantPool({
    url: config.databaseUrl,
    poolMax: config.balanceDbPoolMax,
    applicationName: 'transaction-service-balances',
    statementTimeoutMs: config.balanceDbStatementTimeoutMs,
    lockTimeoutMs: config.asOfLockTimeoutMs,
  });
  const responder = answerBalanceRequests({
    nats: deps.nats,
    subject: config.balanceSubject,
    knex,
    logger: deps.logger.child({ component: 'balance-responder' }),
    metrics: deps.metrics,
    maxPending: config.balanceMaxPending,
    batchMax: config.balanceBatchMax,
    concurrency: config.balanceDbPoolMax,
    statements: new StatementQueries(knex, { settleMs: config.asOfSettleMs }),
  });
  // The server knows the subscription once this round trip is done: a request sent after start-up
  // finds a responder instead of "no responders".
  await withTimeout(deps.nats.flush(), 2_000, 'nats flush timed out').catch((error: unknown) => deps.logger.warn({ err: error }, 'nats flush after subscribing failed'));
  return {
    stop: async () => {
      await responder.stop();
      await knex.destroy();
    },
  };
}
