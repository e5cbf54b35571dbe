/**
 * A private copy of the whole system for `make chaos`: user-service, transaction-service and the
 * outbox relay as real child processes (the compiled entry points), on their own free ports, their
 * own fresh databases, their own Kafka topics (user-created and money-events) and consumer group
 * and their own NATS subject, so killing them or their infrastructure never touches anybody else's
 * data.
 */
import { join } from 'node:path';
import { dropDatabase } from '@wallet/platform';
import { findFreePort, spawnNode, waitForHttp, type SpawnedProcess, serviceCredentialsEnv, serviceLoginUrl, setupTestMoneyEvents, setupTestPipeline, teardownTestMoneyEvents, teardownTestPipeline, TEST_POSTGRES_URL, uniqueName, type ServiceRole, REPO_ROOT } from '@wallet/platform/testkit';

/** The compiled entry points under a checkout's root (another checkout's, to measure a before). */
const entries = (root: string) => ({
  user: join(root, 'user-service', 'dist', 'src', 'entry-points', 'main.js'),
  transaction: join(root, 'transaction-service', 'dist', 'src', 'entry-points', 'main.js'),
  relay: join(root, 'outbox-relay', 'dist', 'src', 'entry-points', 'main.js'),
});

export interface PrivateStack {
  userUrl: string;
  txUrl: string;
  /** transaction-service's operators' listener (GET /internal/reconcile). */
  txOperatorUrl: string;
  /** The relay's health and metrics listener. */
  relayUrl: string;
  userDatabaseUrl: string;
  txDatabaseUrl: string;
  topic: string;
  /** The relay's own money-events topic (ADR 10): read it as money-events-reader (testMoneyEventsReader). */
  moneyEventsTopic: string;
  subject: string;
  /** SIGKILL, no goodbye: open transactions are cut off mid-flight. */
  killTransactionService(): Promise<void>;
  /** Starts transaction-service again on the same port and waits for GET /healthz. */
  startTransactionService(): Promise<void>;
  /** SIGTERM: it leaves its consumer group and commits what it applied. */
  stopTransactionService(): Promise<void>;
  /** The running transaction-service's process id (to sample its memory). */
  transactionServicePid(): number | undefined;
  consumerGroup: string;
  /**
   * Stops the relay (SIGTERM: it finishes its batch) and starts it again with `env` over its
   * environment, e.g. MONEY_EVENTS_ENABLED=false and then true to let a backlog build and drain.
   */
  restartRelay(env?: Record<string, string>): Promise<void>;
  /** The last lines each process wrote (for failure reports). */
  outputs(): Record<string, string>;
  stop(): Promise<void>;
}

function databaseUrl(name: string): string {
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface PrivateStackOptions {
  logLevel: string;
  relayMaxBackoffMs: number;
  /** The checkout whose compiled entry points run (default: this one). */
  root?: string;
  partitions?: number;
  /** Node flags of transaction-service (e.g. a heap limit). */
  transactionNodeArgs?: string[];
  /** Extra environment of every process. */
  extraEnv?: Record<string, string>;
  /** Extra environment of the relay only (e.g. MONEY_EVENTS_ENABLED=false to build a backlog). */
  relayEnv?: Record<string, string>;
  /** false: every process logs in as the owner (a checkout from before the least-privilege logins). */
  serviceLogins?: boolean;
  name?: string;
}

/**
 * Runs `body` on a private stack and stops the stack after it, whatever happens; when the body
 * fails, the tail of the processes' output goes to stderr first (it says why, more often than not).
 */
export async function withPrivateStack<T>(options: PrivateStackOptions, body: (stack: PrivateStack) => Promise<T>): Promise<T> {
  const stack = await startPrivateStack(options);
  try {
    return await body(stack);
  } catch (error) {
    process.stderr.write(`${JSON.stringify(stack.outputs(), null, 1).slice(-6_000)}\n`);
    throw error;
  } finally {
    await stack.stop();
  }
}

export async function startPrivateStack(options: PrivateStackOptions): Promise<PrivateStack> {
  const ENTRY = entries(options.root ?? REPO_ROOT);
  const id = uniqueName(options.name ?? 'chaos');
  const userDatabaseUrl = databaseUrl(`${id}_users`);
  const txDatabaseUrl = databaseUrl(`${id}_tx`);
  const name = options.name ?? 'chaos';
  const topic = uniqueName(`${name}-user-created`);
  const moneyEventsTopic = uniqueName(`${name}-money-events`);
  const subject = uniqueName(`wallet.balance.${name}`);
  const group = uniqueName(`${name}-tx`);
  const partitions = String(options.partitions ?? 3);
  const [userPort, txPort, txOperatorPort, relayPort] = [await findFreePort(), await findFreePort(), await findFreePort(), await findFreePort()];
  // A checkout from before the least-privilege logins migrates with DATABASE_URL: it needs the owner.
  const login = (url: string, role: ServiceRole): Promise<string> =>
    options.serviceLogins === false ? Promise.resolve(url) : serviceLoginUrl(url, role);

  // As `make infra` does for user-created: the admin creates the topic and grants the services' ACLs.
  await setupTestPipeline({ topic, partitions: Number(partitions), group });
  // ...and for money-events: the relay may only write it, money-events-reader only read it.
  await setupTestMoneyEvents({ topic: moneyEventsTopic, partitions: Number(partitions) });

  // Each process gets only its own broker credentials, as run.sh and compose give them.
  const common = { LOG_LEVEL: options.logLevel, ...options.extraEnv };
  const processEnv = async (service: 'user-service' | 'transaction-service' | 'outbox-relay', port: number, role: ServiceRole, databaseUrl: string) => ({
    ...common,
    ...serviceCredentialsEnv(service),
    PORT: String(port),
    // Each process as its own login, as deployed; the migrations as the superuser (the owner here).
    DATABASE_URL: await login(databaseUrl, role),
    // The relay applies no migrations.
    ...(service === 'outbox-relay' ? {} : { MIGRATION_DATABASE_URL: databaseUrl }),
  });
  const userEnv = { ...(await processEnv('user-service', userPort, 'user_service', userDatabaseUrl)), BALANCE_SUBJECT: subject };
  // The money engine's settings reach the private transaction-service, so a bench can compare
  // MONEY_BATCH_MAX=1 (one transaction per operation) with the default in one session.
  const moneySettings = Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('MONEY_') && e[1] !== undefined),
  );
  const txEnv = {
    ...(await processEnv('transaction-service', txPort, 'transaction_service', txDatabaseUrl)),
    ...moneySettings,
    OPERATOR_PORT: String(txOperatorPort),
    BALANCE_SUBJECT: subject,
    KAFKA_TOPIC_USER_CREATED: topic,
    KAFKA_TOPIC_PARTITIONS: partitions,
    KAFKA_CONSUMER_GROUP: group,
  };
  const relayEnv = {
    ...(await processEnv('outbox-relay', relayPort, 'outbox_relay', userDatabaseUrl)),
    KAFKA_TOPIC_USER_CREATED: topic,
    KAFKA_TOPIC_PARTITIONS: partitions,
    RELAY_MAX_BACKOFF_MS: String(options.relayMaxBackoffMs),
    // Money events (ADR 10) from the private ledger, as the relay's own DML-only login there.
    MONEY_EVENTS_ENABLED: 'true',
    MONEY_EVENTS_DATABASE_URL: await login(txDatabaseUrl, 'outbox_relay'),
    KAFKA_TOPIC_MONEY_EVENTS: moneyEventsTopic,
    ...options.relayEnv,
  };
  const userUrl = `http://127.0.0.1:${userPort}`;
  const txUrl = `http://127.0.0.1:${txPort}`;

  const processes = new Map<string, SpawnedProcess>();
  const history: string[] = [];
  const startOne = async (
    name: string,
    entry: string,
    env: Record<string, string>,
    healthUrl: string,
    nodeArgs: string[] = [],
  ): Promise<void> => {
    const spawned = spawnNode(entry, env, nodeArgs);
    processes.set(name, spawned);
    await waitForHttp(healthUrl, 60_000, spawned);
  };

  const stack: PrivateStack = {
    userUrl,
    txUrl,
    txOperatorUrl: `http://127.0.0.1:${txOperatorPort}`,
    relayUrl: `http://127.0.0.1:${relayPort}`,
    userDatabaseUrl,
    txDatabaseUrl,
    topic,
    moneyEventsTopic,
    subject,
    consumerGroup: group,
    async killTransactionService() {
      const current = processes.get('transaction-service');
      if (current) {
        history.push(current.output());
        await current.kill9();
      }
    },
    async startTransactionService() {
      await startOne('transaction-service', ENTRY.transaction, txEnv, `${txUrl}/healthz`, options.transactionNodeArgs);
    },
    async stopTransactionService() {
      const current = processes.get('transaction-service');
      if (current) {
        history.push(current.output());
        await current.stop(15_000);
      }
    },
    async restartRelay(env = {}) {
      await processes.get('outbox-relay')?.stop(15_000);
      await startOne('outbox-relay', ENTRY.relay, { ...relayEnv, ...env }, `${stack.relayUrl}/healthz`);
    },
    transactionServicePid() {
      const current = processes.get('transaction-service');
      return current && current.child.exitCode === null && current.child.signalCode === null ? current.child.pid : undefined;
    },
    outputs() {
      const all: Record<string, string> = {};
      for (const [name, p] of processes) all[name] = p.output().slice(-4_000);
      if (history.length > 0) all['transaction-service (killed runs)'] = history.join('\n---\n').slice(-4_000);
      return all;
    },
    async stop() {
      await Promise.all([...processes.values()].map((p) => p.stop(10_000)));
      await dropDatabase(userDatabaseUrl).catch(() => undefined);
      await dropDatabase(txDatabaseUrl).catch(() => undefined);
      // A leftover uniquely named topic harms nobody.
      await teardownTestPipeline({ topic, group }).catch(() => undefined);
      await teardownTestMoneyEvents({ topic: moneyEventsTopic }).catch(() => undefined);
    },
  };

  try {
    // Each service before the relay: it creates its database and the outbox the relay reads, and
    // transaction-service's migrations grant the relay's login its rights on the money outbox.
    await startOne('user-service', ENTRY.user, userEnv, `${userUrl}/healthz`);
    await stack.startTransactionService();
    await startOne('outbox-relay', ENTRY.relay, relayEnv, `${stack.relayUrl}/healthz`);
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}
