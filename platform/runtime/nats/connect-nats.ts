import { connect, type NatsConnection } from 'nats';
import type { Logger } from 'pino';
import type { BalanceNatsSettings } from '../config/process-settings';
import { withTimeout } from '../lifecycle/shutdown';

export type { NatsConnection } from 'nats';

/**
 * Connects with unlimited reconnects: NATS going away is an outage to ride out, not a reason for
 * the process to die. The connection status is logged as it changes.
 * With a `user`, it logs in as that user and takes its reply inbox under `_INBOX_<user>.`, the only
 * inbox the server lets that user subscribe to (platform/tools/infra/nats/nats-server.conf).
 */
export async function connectNats(options: {
  url: string;
  name: string;
  logger: Logger;
  user?: string;
  password?: string;
}): Promise<NatsConnection> {
  const connection = await connect({
    servers: options.url.split(','),
    name: options.name,
    ...natsCredentials(options.user, options.password),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: false,
  });
  const log = options.logger.child({ component: 'nats' });
  void (async () => {
    for await (const status of connection.status()) {
      if (String(status.type) === 'pingTimer') continue;
      log.info({ status: status.type, data: typeof status.data === 'string' ? status.data : undefined }, 'nats status');
    }
  })();
  return connection;
}

/** connectNats with the process's NATS_URL, NATS_USER and NATS_PASSWORD. */
export function connectNatsFromSettings(
  settings: Pick<BalanceNatsSettings, 'natsUrl' | 'natsUser' | 'natsPassword'>,
  name: string,
  logger: Logger,
): Promise<NatsConnection> {
  return connectNats({ url: settings.natsUrl, name, logger, user: settings.natsUser, password: settings.natsPassword });
}

/** The connect options that log in as `user` with its own inbox prefix (none without a user). */
export function natsCredentials(user?: string, password?: string): { user?: string; pass?: string; inboxPrefix?: string } {
  if (!user) return {};
  return { user, pass: password, inboxPrefix: natsInboxPrefix(user) };
}

export function natsInboxPrefix(user: string): string {
  return `_INBOX_${user}`;
}

/** Readiness: a round trip to the server, bounded so that a reconnecting client cannot hang /readyz. */
export function checkNats(connection: NatsConnection, timeoutMs = 2_000): Promise<void> {
  if (connection.isClosed()) return Promise.reject(new Error('nats connection closed'));
  return withTimeout(connection.flush(), timeoutMs, 'nats flush timed out');
}

/**
 * Drains the connection (in-flight requests finish, subscriptions stop) but never waits for ever:
 * while the server is away drain() would, so after `timeoutMs` (or at once if closed) we close.
 */
export async function closeNats(connection: NatsConnection, timeoutMs = 5_000): Promise<void> {
  if (connection.isClosed()) return;
  await withTimeout(connection.drain(), timeoutMs, 'nats drain timed out').catch(() => connection.close());
}
