import { runProcess } from '@wallet/platform';
import { loadOutboxRelayConfig } from '../config';
import { startOutboxRelay } from '../start-relay';

runProcess('outbox-relay', loadOutboxRelayConfig, startOutboxRelay);
