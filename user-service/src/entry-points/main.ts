import { createLogger, exitOnStartupFailure, installShutdownHandlers } from '@wallet/platform';
import { loadUserServiceConfig } from '../config';
import { startUserService } from '../start-service';

async function main(): Promise<void> {
  const config = loadUserServiceConfig();
  const logger = createLogger({ service: 'user-service', level: config.logLevel });
  const service = await startUserService(config, logger);
  installShutdownHandlers(logger, [{ name: 'user-service', run: () => service.stop() }]);
}

main().catch((error: unknown) => exitOnStartupFailure('user-service', error));
