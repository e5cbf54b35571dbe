/**
 * Republishes already-published outbox events (`make replay-outbox`):
 *   replay-outbox --from-event-id X [--to-event-id Y]
 *   replay-outbox --since 2024-01-01T00:00:00Z [--until 2024-01-02T00:00:00Z]
 *   replay-outbox --user-id U
 * Bounds combine (AND); at least one is required. The running relay does the actual sending.
 */
import { parseArgs } from 'node:util';
import { createKnex, createLogger, runCli } from '@wallet/platform';
import { loadOutboxRelayConfig } from '../config';
import { parseReplaySelection, replayOutbox, ReplayRequestError } from '../domain/replay-outbox';

const USAGE =
  'usage: replay-outbox [--from-event-id ID] [--to-event-id ID] [--since ISO] [--until ISO] [--user-id UUID]\n' +
  '  at least one bound is required; DATABASE_URL names user-service\'s database\n';

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
): Promise<number> {
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
    output.err(`replay-outbox: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }

  const config = loadOutboxRelayConfig(env);
  const logger = createLogger({ service: 'outbox-relay-replay', level: config.logLevel });
  const knex = createKnex({ url: config.databaseUrl, poolMax: 2, applicationName: 'outbox-replay' });
  try {
    const requeued = await replayOutbox(knex, selection);
    logger.info({ requeued, selection }, 'outbox events requeued for publication');
    output.out(`requeued ${requeued} event(s) for republication\n`);
    return 0;
  } catch (error) {
    if (error instanceof ReplayRequestError) {
      output.err(`replay-outbox: ${error.message}\n`);
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
