/**
 * The service as a library, for the platform test kit and the repository's tools (they sit above the
 * services in the build graph): start it in-process, read its configuration, its API description and
 * its migrations. The service itself starts from entry-points/, never from here.
 */
export { startUserService, type RunningUserService } from './start-service';
export { loadUserServiceConfig, userServiceConfig, type UserServiceConfig } from './config';
export { openApiDocument } from './entry-points/http/openapi';
export { migrations, MIGRATION_LOCK_KEY } from './data-access/migrations/001-create-users-schema';
