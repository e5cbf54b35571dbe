import type { Server } from 'node:http';
import {
  checkDatabase,
  checkNats,
  closeNats,
  closeServer,
  createStopOnce,
  declareMetrics,
  natsInboxPrefix,
  openServiceResources,
  serveHttp,
  type Logger,
  type ShutdownStep,
} from '@wallet/platform';
import type { UserServiceConfig } from './config';
import * as usersSchema from './data-access/migrations/001-create-users-schema';
import { createBalanceRequester } from './data-access/request-balance';
import { createUser } from './domain/create-user';
import { getBalance } from './domain/get-balance';
import { createUserLookup } from './domain/user-lookup-cache';
import { createUserRouter } from './entry-points/http/create-user-router';
import { openApiDocument } from './entry-points/http/openapi';

export interface RunningUserService {
  server: Server;
  url: string;
  stop(): Promise<void>;
}

/**
 * Composition root. Start-up fails fast when PostgreSQL or NATS is unreachable; Kafka is not a
 * dependency at all: events wait in the outbox until the relay can publish them.
 */
export async function startUserService(config: UserServiceConfig, logger: Logger): Promise<RunningUserService> {
  const { knex, metrics, nats } = await openServiceResources('user-service', config, { schema: usersSchema, logger });
  const usersCreated = declareMetrics(metrics).counter('users_created_total', 'Users created (each with its user-created outbox event)');
  const findUser = createUserLookup(knex, config.userLookupCacheSize);
  const balanceRequester = createBalanceRequester({
    nats,
    subject: config.balanceSubject,
    inboxPrefix: natsInboxPrefix(config.natsUser),
    timeoutMs: config.balanceTimeoutMs,
    maxOutstanding: config.balanceMaxOutstanding,
    logger,
    metrics,
  });

  const router = createUserRouter({
    createUser: (input) => createUser({ knex, logger, onUserCreated: () => usersCreated.inc() }, input),
    getBalance: (email, asOfMs) => getBalance({ findUser, logger, requestBalance: balanceRequester.requestBalance }, email, asOfMs),
  });
  const { server, port, url } = await serveHttp(config, {
    logger,
    metrics,
    router,
    readinessChecks: {
      postgres: () => checkDatabase(knex),
      // While NATS is reconnecting a flush would wait for the reconnect: answer at once instead.
      nats: () =>
        balanceRequester.isConnected()
          ? checkNats(nats)
          : Promise.reject(new Error('nats is disconnected')),
    },
    openApiDocument,
  });
  logger.info({ host: config.host, port }, 'user-service listening');

  const steps: ShutdownStep[] = [
    { name: 'http', run: () => closeServer(server) },
    {
      name: 'nats',
      run: async () => {
        const connected = balanceRequester.isConnected();
        balanceRequester.stop();
        // drain() waits for the server; while disconnected that could be for ever, so close.
        if (!connected) return nats.close();
        await closeNats(nats);
      },
    },
    { name: 'postgres', run: () => knex.destroy() },
  ];
  return { server, url, stop: createStopOnce(logger, steps) };
}
