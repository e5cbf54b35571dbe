import { runMigrations } from '@wallet/platform';
import { loadTransactionServiceConfig } from '../config';
import * as walletSchema from '../data-access/migrations/001-create-wallet-schema';

/** `make migrate`: applies transaction-service's migrations and exits. */
runMigrations('transaction-service', loadTransactionServiceConfig, walletSchema);
