import pg from 'pg';
import { fullJitterBackoffMs, type Logger } from '@wallet/platform';

export interface OutboxListener {
  stop(): Promise<void>;
}

/**
 * LISTENs on the outbox channel with a dedicated connection (a pooled one could be handed to
 * someone else and miss notifications). When the connection drops it is re-established with a
 * capped backoff; `onEvent` is also called after each (re)connect, since a notification sent
 * while we were away is lost and the rows it announced are waiting.
 */
export function listenForOutboxEvents(options: {
  databaseUrl: string;
  /** The NOTIFY channel its outbox signals (a fixed identifier from the contracts, never user input). */
  channel: string;
  logger: Logger;
  onEvent: () => void;
  maxBackoffMs: number;
}): OutboxListener {
  const { logger, onEvent } = options;
  let client: pg.Client | undefined;
  let stopped = false;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;

  const scheduleReconnect = (): void => {
    if (stopped || retryTimer) return;
    failures += 1;
    const delayMs = fullJitterBackoffMs(failures, { baseMs: 200, capMs: options.maxBackoffMs });
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, delayMs);
  };

  const connect = async (): Promise<void> => {
    if (stopped) return;
    const next = new pg.Client({ connectionString: options.databaseUrl, application_name: 'outbox-relay-listener' });
    // Without an 'error' listener a dropped connection would crash the process.
    next.on('error', (error) => {
      logger.warn({ err: error }, 'outbox listener connection failed');
      if (client === next) client = undefined;
      void next.end().catch(() => undefined);
      scheduleReconnect();
    });
    next.on('end', () => {
      if (client === next) {
        client = undefined;
        scheduleReconnect();
      }
    });
    next.on('notification', (message) => {
      if (message.channel === options.channel) onEvent();
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${options.channel}`);
    } catch (error) {
      logger.warn({ err: error }, 'outbox listener could not connect; retrying');
      await next.end().catch(() => undefined);
      scheduleReconnect();
      return;
    }
    if (stopped) {
      await next.end().catch(() => undefined);
      return;
    }
    client = next;
    if (failures > 0) logger.info('outbox listener reconnected');
    failures = 0;
    onEvent();
  };

  void connect();

  return {
    stop: async () => {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      const current = client;
      client = undefined;
      await current?.end().catch(() => undefined);
    },
  };
}
