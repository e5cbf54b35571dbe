/**
 * Republishes already-published outbox events (`make replay-outbox`; money events with
 * `make replay-money-events`, see replay-money-events.ts):
 *   replay-outbox --from-event-id X [--to-event-id Y]
 *   replay-outbox --since 2024-01-01T00:00:00Z [--until 2024-01-02T00:00:00Z]
 *   replay-outbox --user-id U
 * Bounds combine (AND); at least one is required. The running relay does the actual sending.
 */
import { parseArgs } from 'node:util';
import { createKnex, createLogger, runCli } from '@wallet/platform';
import { loadOutboxRelayConfig } from '../config';
import { parseReplaySelection, replayMoneyEvents, replayOutbox, ReplayRequestError } from '../domain/replay-outbox';

/** Which outbox to replay from: user-service's (user-created) or transaction-service's (money events). */
export type ReplayTarget = 'user-created' | 'money-events';

const TARGETS = {
  'user-created': { name: 'replay-outbox', database: "DATABASE_URL names user-service's database", replay: replayOutbox },
  'money-events': {
    name: 'replay-money-events',
    database: "MONEY_EVENTS_DATABASE_URL names transaction-service's database",
    replay: replayMoneyEvents,
  },
} as const;

const usage = (target: ReplayTarget): string =>
  `usage: ${TARGETS[target].name} [--from-event-id ID] [--to-event-id ID] [--since ISO] [--until ISO] [--user-id UUID]\n` +
  `  at least one bound is required; ${TARGETS[target].database}\n`;

export interface CliOutput {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processOutput: CliOutput = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Runs the CLI; returns the exit code (0 done, 2 refused request). */
export async function runReplayCli(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  output: CliOutput = processOutput,
  target: ReplayTarget = 'user-created',
): Promise<number> {
  const { name, replay } = TARGETS[target];
  let selection;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        'from-event-id': { type: 'string' },
        'to-event-id': { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        'user-id': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
    selection = parseReplaySelection({
      fromEventId: values['from-event-id'],
      toEventId: values['to-event-id'],
      since: values.since,
      until: values.until,
      userId: values['user-id'],
    });
  } catch (error) {
    output.err(`${name}: ${error instanceof Error ? error.message : String(error)}\n${usage(target)}`);
    return 2;
  }

  const config = loadOutboxRelayConfig(env);
  const logger = createLogger({ service: 'outbox-relay-replay', level: config.logLevel });
  const url = target === 'user-created' ? config.databaseUrl : config.moneyEventsDatabaseUrl;
  const knex = createKnex({ url, poolMax: 2, applicationName: name });
  try {
    const requeued = await replay(knex, selection);
    logger.info({ requeued, selection, target }, 'outbox events requeued for publication');
    output.out(`requeued ${requeued} event(s) for republication\n`);
    return 0;
  } catch (error) {
    if (error instanceof ReplayRequestError) {
      output.err(`${name}: ${error.message}\n`);
      return 2;
    }
    throw error;
  } finally {
    await knex.destroy();
  }
}

if (require.main === module) {
  runCli('replay-outbox', () => runReplayCli(process.argv.slice(2)), { failureExitCode: 1 });
}
