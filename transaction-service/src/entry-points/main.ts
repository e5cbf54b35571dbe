import { createLogger, exitOnStartupFailure, installShutdownHandlers } from '@wallet/platform';
import { loadTransactionServiceConfig } from '../config';
import { startTransactionService } from '../start-service';

async function main(): Promise<void> {
  const config = loadTransactionServiceConfig();
  const logger = createLogger({ service: 'transaction-service', level: config.logLevel });
  const service = await startTransactionService(config, logger);
  installShutdownHandlers(logger, [{ name: 'transaction-service', run: () => service.stop() }]);
}

main().catch((error: unknown) => exitOnStartupFailure('transaction-service', error));
