/**
 * Republishes money events (`make replay-money-events`), rebuilt from the ledger:
 *   replay-money-events --user-id U
 *   replay-money-events --since 2026-12-01T00:00:00Z [--until 2026-12-02T00:00:00Z]
 *   replay-money-events --from-event-id X [--to-event-id Y]   (event id = ledger entry id)
 * Bounds combine (AND); at least one is required. The running relay does the actual sending.
 */
import { runCli } from '@wallet/platform';
import { runReplayCli } from './replay-outbox';

if (require.main === module) {
  runCli('replay-money-events', () => runReplayCli(process.argv.slice(2), process.env, undefined, 'money-events'), { failureExitCode: 1 });
}
