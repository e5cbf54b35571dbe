import type { Server } from 'node:http';
import Router from '@koa/router';
import type { ITopicConfig, Kafka } from 'kafkajs';
import {
  checkDatabase,
  checkKafka,
  closeInOrder,
  closeServer,
  createKafkaFromSettings,
  createKnex,
  createKnexFromSettings,
  createMetricsRegistry,
  createStopOnce,
  declareMetrics,
  ensureTopics,
  MONEY_EVENTS_NOTIFY_CHANNEL,
  OUTBOX_NOTIFY_CHANNEL,
  registerPoolMetrics,
  serveHttp,
  type Knex,
  type Listening,
  type Logger,
  type MetricsRegistry,
  type ShutdownStep,
} from '@wallet/platform';
import type { OutboxRelayConfig } from './config';
import { listenForOutboxEvents } from './data-access/listen-for-outbox-events';
import { measureMoneyEventsBacklog } from './data-access/money-events-repository';
import { measureBacklog } from './data-access/outbox-repository';
import { createEventPublisher } from './data-access/publish-events';
import { moneyEventsSource, userCreatedSource, type OutboxSource } from './domain/outbox-source';
import { OutboxRelay } from './domain/relay-outbox';

export interface RunningOutboxRelay {
  server: Server;
  url: string;
  stop(): Promise<void>;
}

/**
 * Composition root of the relay. It serves two outboxes, each with its own loop, listener, pool
 * and metrics: user-service's (user-created events) and transaction-service's (money events, ADR
 * 10). Nothing here waits for Kafka or for the outbox tables: they may appear later, and each loop
 * keeps retrying (with a capped backoff) until they do; one source's outage never stops the other.
 */
export async function startOutboxRelay(config: OutboxRelayConfig, logger: Logger): Promise<RunningOutboxRelay> {
  const kafka = createKafkaFromSettings(config, 'outbox-relay', logger);
  const metrics = createMetricsRegistry('outbox-relay');
  const sources = [startUserCreatedSource(config, { kafka, logger, metrics })];
  if (config.moneyEventsEnabled) sources.push(startMoneyEventsSource(config, { kafka, logger, metrics }));

  let http: Listening;
  try {
    http = await startHealthServer(config, { kafka, logger, metrics, sources });
  } catch (error) {
    for (const source of sources) await source.stop();
    throw error;
  }
  logger.info({ port: http.port, topics: [config.userCreatedTopic, ...(config.moneyEventsEnabled ? [config.moneyEventsTopic] : [])] }, 'outbox-relay started');

  const steps: ShutdownStep[] = [
    // Each lets the batch in flight finish (send + mark), then disconnects its producer and pool.
    ...sources.map((source) => ({ name: source.name, run: () => source.stop() })),
    { name: 'http', run: () => closeServer(http.server) },
  ];
  return { server: http.server, url: http.url, stop: createStopOnce(logger, steps) };
}

interface RelayDeps {
  kafka: Kafka;
  logger: Logger;
  metrics: MetricsRegistry;
}

/** One outbox being relayed: its pool (for readiness) and how to stop it. */
interface RunningSource {
  name: string;
  knex: Knex;
  stop(): Promise<void>;
}

function startUserCreatedSource(config: OutboxRelayConfig, deps: RelayDeps): RunningSource {
  const knex = createKnexFromSettings(config, 'outbox-relay');
  registerPoolMetrics(knex, deps.metrics);
  const metrics = declareRelayMetrics(deps.metrics, USER_CREATED_METRICS, () => measureBacklog(knex));
  const topic = { topic: config.userCreatedTopic, numPartitions: config.userCreatedTopicPartitions };
  const relay = createRelay(config, deps, { knex, source: userCreatedSource, topic, metrics });
  return startSource('user-created', { config, deps, knex, relay, databaseUrl: config.databaseUrl, channel: OUTBOX_NOTIFY_CHANNEL });
}

function startMoneyEventsSource(config: OutboxRelayConfig, deps: RelayDeps): RunningSource {
  const knex = createKnex({
    url: config.moneyEventsDatabaseUrl,
    poolMax: config.dbPoolMax,
    applicationName: 'outbox-relay-money-events',
    statementTimeoutMs: config.dbStatementTimeoutMs,
  });
  const metrics = declareRelayMetrics(deps.metrics, MONEY_EVENTS_METRICS, () => measureMoneyEventsBacklog(knex));
  // Same partition count as user-created: the topic is created by the infrastructure step, not here.
  const topic = { topic: config.moneyEventsTopic, numPartitions: config.userCreatedTopicPartitions };
  const relay = createRelay(config, deps, { knex, source: moneyEventsSource, topic, metrics });
  const databaseUrl = config.moneyEventsDatabaseUrl;
  return startSource('money-events', { config, deps, knex, relay, databaseUrl, channel: MONEY_EVENTS_NOTIFY_CHANNEL });
}

function startSource<Row>(
  name: string,
  parts: { config: OutboxRelayConfig; deps: RelayDeps; knex: Knex; relay: OutboxRelay<Row>; databaseUrl: string; channel: string },
): RunningSource {
  const { knex, relay } = parts;
  const listener = listenForOutboxEvents({
    databaseUrl: parts.databaseUrl,
    channel: parts.channel,
    logger: parts.deps.logger,
    onEvent: () => relay.wake(),
    maxBackoffMs: parts.config.maxBackoffMs,
  });
  relay.start();
  return { name, knex, stop: closeInOrder(() => listener.stop(), () => relay.stop(), () => knex.destroy()) };
}

/** The relay loop of one source, wired to Kafka and to that source's metrics. */
function createRelay<Row>(
  config: OutboxRelayConfig,
  deps: RelayDeps,
  parts: { knex: Knex; source: OutboxSource<Row>; topic: ITopicConfig; metrics: RelayMetrics },
): OutboxRelay<Row> {
  const { kafka } = deps;
  const { metrics } = parts;
  return new OutboxRelay({
    knex: parts.knex,
    source: parts.source,
    publisher: createEventPublisher(kafka),
    ensureTopic: () => ensureTopics(kafka, [parts.topic]),
    topic: parts.topic.topic,
    batchSize: config.batchSize,
    pollIntervalMs: config.pollIntervalMs,
    initialBackoffMs: config.initialBackoffMs,
    maxBackoffMs: config.maxBackoffMs,
    logger: deps.logger.child({ source: parts.topic.topic }),
    onPublished: (messages) => {
      metrics.published.inc(messages.length);
      const now = Date.now();
      for (const message of messages) metrics.publishLag.observe(Math.max(0, now - message.queuedAt.getTime()) / 1000);
    },
    onFailure: (reason) => metrics.failures.inc({ reason }),
  });
}

interface RelayMetricNames {
  backlog: string;
  oldestAge: string;
  published: string;
  failures: string;
  publishLag: string;
  /** What the help texts call the rows. */
  what: string;
}

const USER_CREATED_METRICS: RelayMetricNames = {
  backlog: 'outbox_backlog_events',
  oldestAge: 'outbox_oldest_unpublished_age_seconds',
  published: 'outbox_events_published_total',
  failures: 'outbox_relay_failures_total',
  publishLag: 'outbox_publish_lag_seconds',
  what: 'Outbox events (user-created)',
};

const MONEY_EVENTS_METRICS: RelayMetricNames = {
  backlog: 'money_events_backlog_events',
  oldestAge: 'money_events_oldest_unpublished_age_seconds',
  published: 'money_events_published_total',
  failures: 'money_events_relay_failures_total',
  publishLag: 'money_events_publish_lag_seconds',
  what: 'Money events',
};

type RelayMetrics = ReturnType<typeof declareRelayMetrics>;

/** One source's counters, and its backlog gauges read from its outbox at scrape time. */
function declareRelayMetrics(registry: MetricsRegistry, names: RelayMetricNames, measure: () => Promise<{ unpublished: number; oldestAgeSeconds: number }>) {
  const metric = declareMetrics(registry);
  // A scrape must not fail when the database (or the outbox table) is not there yet.
  const readBacklog = () => measure().catch(() => undefined);
  metric.gaugeReading(names.backlog, `${names.what} not yet published`, async () => (await readBacklog())?.unpublished);
  metric.gaugeReading(names.oldestAge, `Age of the oldest unpublished ${names.what.toLowerCase()} row (0 when none)`, async () => (await readBacklog())?.oldestAgeSeconds);
  return {
    published: metric.counter(names.published, `${names.what} published to Kafka (a replayed or re-sent event counts again)`),
    // publish present at 0 from the start, for the publish-failure alert's increase().
    failures: metric.counter<'reason'>(names.failures, 'Relay iterations that failed, by reason', ['reason'], { presentAtZero: [{ reason: 'publish' }] }),
    publishLag: metric.histogram(
      names.publishLag,
      `Time from the outbox insert to its publication on Kafka (${names.what.toLowerCase()})`,
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    ),
  };
}

/** The small /healthz, /readyz and /metrics server; it has no routes of its own. */
function startHealthServer(config: OutboxRelayConfig, deps: RelayDeps & { sources: RunningSource[] }): Promise<Listening> {
  // user-created's database keeps the check's old name ("postgres"); each other source is named.
  const databases = Object.fromEntries(
    deps.sources.map((source) => [source.name === 'user-created' ? 'postgres' : `postgres-${source.name}`, () => checkDatabase(source.knex)]),
  );
  return serveHttp(config, {
    logger: deps.logger,
    metrics: deps.metrics,
    router: new Router(),
    // Ready means "events can flow": without Kafka the relay keeps rows safe and retries, but
    // nothing reaches transaction-service, and the operator should see it here as well as in
    // the backlog gauge.
    readinessChecks: { ...databases, kafka: () => checkKafka(deps.kafka) },
  });
}
