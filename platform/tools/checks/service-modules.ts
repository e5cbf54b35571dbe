/**
 * What the repository-wide checks read of each service, imported like any library: the checks sit
 * above the services in the build graph (platform/tools references them), so nothing is loaded by
 * path and a renamed export fails the build instead of a test.
 */
import type { ConfigDefinition, Migration, OpenApiDocument } from '@wallet/platform';
import * as outboxRelay from '@wallet/outbox-relay';
import * as transactionService from '@wallet/transaction-service';
import * as userService from '@wallet/user-service';

export const SERVICE_DOCUMENTS = ['user-service', 'transaction-service'] as const;

export function loadOpenApiDocument(pkg: (typeof SERVICE_DOCUMENTS)[number]): OpenApiDocument {
  return pkg === 'user-service' ? userService.openApiDocument : transactionService.openApiDocument;
}

/** Each workspace's config: the variables it reads (its definition) and its loader. */
export const SERVICE_CONFIGS: Record<'user-service' | 'transaction-service' | 'outbox-relay', { definition: ConfigDefinition<unknown>; load: (env: NodeJS.ProcessEnv) => unknown }> = {
  'user-service': { definition: userService.userServiceConfig, load: userService.loadUserServiceConfig },
  'transaction-service': { definition: transactionService.transactionServiceConfig, load: transactionService.loadTransactionServiceConfig },
  'outbox-relay': { definition: outboxRelay.outboxRelayConfig, load: outboxRelay.loadOutboxRelayConfig },
};

/** The migrations each database's owner applies at start-up, and the advisory lock that serialises them. */
export const SERVICE_MIGRATIONS: Record<'user-service' | 'transaction-service', { migrations: readonly Migration[]; lockKey: number }> = {
  'user-service': { migrations: userService.migrations, lockKey: userService.MIGRATION_LOCK_KEY },
  'transaction-service': { migrations: transactionService.migrations, lockKey: transactionService.MIGRATION_LOCK_KEY },
};
