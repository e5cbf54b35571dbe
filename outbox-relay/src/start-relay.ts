import type { Server } from 'node:http';
import Router from '@koa/router';
import {
  checkDatabase,
  checkKafka,
  closeServer,
  createHttpApp,
  createKafkaFromSettings,
  createKnexFromSettings,
  createMetricsRegistry,
  createStopOnce,
  declareMetrics,
  ensureTopics,
  listenOn,
  registerPoolMetrics,
  type Listening,
  type Logger,
  type ShutdownStep,
} from '@wallet/platform';
import type { OutboxRelayConfig } from './config';
import { listenForOutboxEvents } from './data-access/listen-for-outbox-events';
import { measureBacklog } from './data-access/outbox-repository';
import { createEventPublisher } from './data-access/publish-events';
import { OutboxRelay } from './domain/relay-outbox';

export interface RunningOutboxRelay {
  server: Server;
  url: string;
  stop(): Promise<void>;
}

/**
 * Composition root of the relay. Nothing here waits for Kafka or for the outbox table: both may
 * appear later, and the relay keeps retrying (with a capped backoff) until they do.
 */
export async function startOutboxRelay(config: OutboxRelayConfig, logger: Logger): Promise<RunningOutboxRelay> {
  const knex = createKnexFromSettings(config, 'outbox-relay');
  const kafka = createKafkaFromSettings(config, 'outbox-relay', logger);
  const metrics = createMetricsRegistry('outbox-relay');
  registerPoolMetrics(knex, metrics);

  const metric = declareMetrics(metrics);
  const published = metric.counter(
    'outbox_events_published_total',
    'Outbox events published to Kafka (a replayed or re-sent event counts again)',
  );
  const failures = metric.counter('outbox_relay_failures_total', 'Relay iterations that failed, by reason', ['reason']);
  const publishLag = metric.histogram(
    'outbox_publish_lag_seconds',
    'Time from the outbox insert to its publication on Kafka',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  );
  // A scrape must not fail when the database (or the outbox table) is not there yet.
  const readBacklog = () => measureBacklog(knex).catch(() => undefined);
  metric.gaugeReading('outbox_backlog_events', 'Outbox events not yet published', async () => (await readBacklog())?.unpublished);
  metric.gaugeReading(
    'outbox_oldest_unpublished_age_seconds',
    'Age of the oldest unpublished outbox event (0 when none)',
    async () => (await readBacklog())?.oldestAgeSeconds,
  );

  const relay = new OutboxRelay({
    knex,
    publisher: createEventPublisher(kafka),
    ensureTopic: () =>
      ensureTopics(kafka, [{ topic: config.userCreatedTopic, numPartitions: config.userCreatedTopicPartitions }]),
    topic: config.userCreatedTopic,
    batchSize: config.batchSize,
    pollIntervalMs: config.pollIntervalMs,
    initialBackoffMs: config.initialBackoffMs,
    maxBackoffMs: config.maxBackoffMs,
    logger,
    onPublished: (rows) => {
      published.inc(rows.length);
      const now = Date.now();
      for (const row of rows) publishLag.observe(Math.max(0, now - row.created_at.getTime()) / 1000);
    },
    onFailure: (reason) => failures.inc({ reason }),
  });
  const listener = listenForOutboxEvents({
    databaseUrl: config.databaseUrl,
    logger,
    onEvent: () => relay.wake(),
    maxBackoffMs: config.maxBackoffMs,
  });
  relay.start();

  let http: Listening;
  try {
    const app = createHttpApp({
      logger,
      metrics,
      router: new Router(),
      // Ready means "events can flow": without Kafka the relay keeps rows safe and retries, but
      // nothing reaches transaction-service, and the operator should see it here as well as in
      // the backlog gauge.
      readinessChecks: { postgres: () => checkDatabase(knex), kafka: () => checkKafka(kafka) },
      bodyLimitBytes: 1_024,
    });
    http = await listenOn(app, config);
  } catch (error) {
    await listener.stop();
    await relay.stop();
    await knex.destroy();
    throw error;
  }
  const { server, port, url } = http;
  logger.info({ port, topic: config.userCreatedTopic }, 'outbox-relay started');

  const steps: ShutdownStep[] = [
    { name: 'listener', run: () => listener.stop() },
    // Lets the batch in flight finish (send + mark), then disconnects the producer.
    { name: 'relay', run: () => relay.stop() },
    { name: 'http', run: () => closeServer(server) },
    { name: 'postgres', run: () => knex.destroy() },
  ];
  return { server, url, stop: createStopOnce(logger, steps) };
}
