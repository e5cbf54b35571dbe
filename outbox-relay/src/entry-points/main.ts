import { createLogger, exitOnStartupFailure, installShutdownHandlers } from '@wallet/platform';
import { loadOutboxRelayConfig } from '../config';
import { startOutboxRelay } from '../start-relay';

async function main(): Promise<void> {
  const config = loadOutboxRelayConfig();
  const logger = createLogger({ service: 'outbox-relay', level: config.logLevel });
  const relay = await startOutboxRelay(config, logger);
  installShutdownHandlers(logger, [{ name: 'outbox-relay', run: () => relay.stop() }]);
}

main().catch((error: unknown) => exitOnStartupFailure('outbox-relay', error));
