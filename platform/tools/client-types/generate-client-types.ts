/** `make client-types`: writes client/src/generated/api-types.ts from the services' OpenAPI documents. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@wallet/platform/testkit';
import { clientTypesPath, serviceDocuments } from './client-types-source';
import { renderClientTypes } from './render-client-types';

const path = join(REPO_ROOT, clientTypesPath);
writeFileSync(path, renderClientTypes(serviceDocuments()));
process.stdout.write(`wrote ${clientTypesPath}\n`);
