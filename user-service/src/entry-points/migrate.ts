import { runMigrations } from '@wallet/platform';
import { loadUserServiceConfig } from '../config';
import * as usersSchema from '../data-access/migrations/001-create-users-schema';

/** `make migrate`: applies user-service's migrations (users + outbox) and exits. */
runMigrations('user-service', loadUserServiceConfig, usersSchema);
