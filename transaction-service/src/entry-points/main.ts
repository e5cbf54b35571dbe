import { runProcess } from '@wallet/platform';
import { loadTransactionServiceConfig } from '../config';
import { startTransactionService } from '../start-service';

runProcess('transaction-service', loadTransactionServiceConfig, startTransactionService);
