import { runProcess } from '@wallet/platform';
import { loadUserServiceConfig } from '../config';
import { startUserService } from '../start-service';

runProcess('user-service', loadUserServiceConfig, startUserService);
