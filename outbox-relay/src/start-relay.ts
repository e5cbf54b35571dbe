import type { Server } from 'node:http';
import Router from '@koa/router';
import type { Kafka } from 'kafkajs';
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
  type Knex,
  type Listening,
  type Logger,
  type MetricsRegistry,
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

  const relay = createRelay(config, { knex, kafka, logger, metrics });
  const listener = listenForOutboxEvents({
    databaseUrl: config.databaseUrl,
    logger,
    onEvent: () => relay.wake(),
    maxBackoffMs: config.maxBackoffMs,
  });
  relay.start();

  let http: Listening;
  try {
    http = await startHealthServer(config, { knex, kafka, logger, metrics });
  } catch (error) {
    await listener.stop();
    await relay.stop();
    await knex.destroy();
    throw error;
  }
  logger.info({ port: http.port, topic: config.userCreatedTopic }, 'outbox-relay started');

  const steps: ShutdownStep[] = [
    { name: 'listener', run: () => listener.stop() },
    // Lets the batch in flight finish (send + mark), then disconnects the producer.
    { name: 'relay', run: () => relay.stop() },
    { name: 'http', run: () => closeServer(http.server) },
    { name: 'postgres', run: () => knex.destroy() },
  ];
  return { server: http.server, url: http.url, stop: createStopOnce(logger, steps) };
}

interface RelayDeps {
  knex: Knex;
  kafka: Kafka;
  logger: Logger;
  metrics: MetricsRegistry;
}

/** The relay loop, wired to Kafka and to its metrics. */
function createRelay(config: OutboxRelayConfig, deps: RelayDeps): OutboxRelay {
  const { kafka } = deps;
  const metrics = declareRelayMetrics(deps.metrics, deps.knex);
  return new OutboxRelay({
    knex: deps.knex,
    publisher: createEventPublisher(kafka),
    ensureTopic: () => ensureTopics(kafka, [{ topic: config.userCreatedTopic, numPartitions: config.userCreatedTopicPartitions }]),
    topic: config.userCreatedTopic,
    batchSize: config.batchSize,
    pollIntervalMs: config.pollIntervalMs,
    initialBackoffMs: config.initialBackoffMs,
    maxBackoffMs: config.maxBackoffMs,
    logger: deps.logger,
    onPublished: (rows) => {
      metrics.published.inc(rows.length);
      const now = Date.now();
      for (const row of rows) metrics.publishLag.observe(Math.max(0, now - row.created_at.getTime()) / 1000);
    },
    onFailure: (reason) => metrics.failures.inc({ reason }),
  });
}

/** The relay's counters, and the backlog gauges read from the outbox at scrape time. */
function declareRelayMetrics(registry: MetricsRegistry, knex: Knex) {
  const metric = declareMetrics(registry);
  // A scrape must not fail when the database (or the outbox table) is not there yet.
  const readBacklog = () => measureBacklog(knex).catch(() => undefined);
  metric.gaugeReading('outbox_backlog_events', 'Outbox events not yet published', async () => (await readBacklog())?.unpublished);
  metric.gaugeReading(
    'outbox_oldest_unpublished_age_seconds',
    'Age of the oldest unpublished outbox event (0 when none)',
    async () => (await readBacklog())?.oldestAgeSeconds,
  );
  const failures = metric.counter<'reason'>('outbox_relay_failures_total', 'Relay iterations that failed, by reason', ['reason']);
  // Present at 0 from the start: the publish-failure alert's increase() needs a sample before the first one.
  failures.inc({ reason: 'publish' }, 0);
  return {
    published: metric.counter('outbox_events_published_total', 'Outbox events published to Kafka (a replayed or re-sent event counts again)'),
    failures,
    publishLag: metric.histogram(
      'outbox_publish_lag_seconds',
      'Time from the outbox insert to its publication on Kafka',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    ),
  };
}

/** The small /healthz, /readyz and /metrics server; it has no routes of its own. */
function startHealthServer(config: OutboxRelayConfig, deps: RelayDeps): Promise<Listening> {
  const app = createHttpApp({
    logger: deps.logger,
    metrics: deps.metrics,
    router: new Router(),
    // Ready means "events can flow": without Kafka the relay keeps rows safe and retries, but
    // nothing reaches transaction-service, and the operator should see it here as well as in
    // the backlog gauge.
    readinessChecks: { postgres: () => checkDatabase(deps.knex), kafka: () => checkKafka(deps.kafka) },
    bodyLimitBytes: config.httpBodyLimitBytes,
  });
  return listenOn(app, config);
}
