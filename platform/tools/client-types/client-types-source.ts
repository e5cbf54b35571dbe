import type { OpenApiDocument } from '@wallet/platform';
import { openApiDocument as transactionServiceDocument } from '@wallet/transaction-service';
import { openApiDocument as userServiceDocument } from '@wallet/user-service';

/** Where the generated types live, from the repository root. */
export const clientTypesPath = 'client/src/generated/api-types.ts';

/** The documents the client is generated from: the objects the services serve at /openapi.json. */
export function serviceDocuments(): Record<string, OpenApiDocument> {
  return { 'user-service': userServiceDocument, 'transaction-service': transactionServiceDocument };
}
