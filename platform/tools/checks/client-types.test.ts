/**
 * @wallet/client's types are the services' contract: client/src/generated/api-types.ts is exactly
 * what the OpenAPI documents render to today (make client-types), and every documented operation has
 * a client method. A change to a document without regenerating fails here; a regenerated file whose
 * types the client no longer satisfies fails the build.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPERATION_METHODS, WalletClient } from '@wallet/client';
import { REPO_ROOT } from '@wallet/platform/testkit';
import { clientTypesPath, serviceDocuments } from '../client-types/client-types-source';
import { renderClientTypes } from '../client-types/render-client-types';

const committed = () => readFileSync(join(REPO_ROOT, clientTypesPath), 'utf8');

describe('the client against the OpenAPI documents', () => {
  test('the generated types are up to date (else: make client-types)', () => {
    assert.equal(committed(), renderClientTypes(serviceDocuments()));
  });

  test('the check sees a drift: a field added to a response, or an operation added, changes the rendering', () => {
    const documents = serviceDocuments();
    const tx = structuredClone(documents['transaction-service']!);
    const transfer = tx.components!.schemas!.TransferResponse as { properties: Record<string, unknown> };
    transfer.properties.fee = { type: 'string' };
    assert.notEqual(renderClientTypes({ ...documents, 'transaction-service': tx }), committed());
    const withHold = structuredClone(documents['transaction-service']!);
    (withHold.paths as Record<string, unknown>)['/holds'] = { post: { operationId: 'createHold', responses: {} } };
    assert.match(renderClientTypes({ ...documents, 'transaction-service': withHold }), /"createHold"/);
  });

  test('a schema with all the properties of another (alike, and alike required) and more is declared as extending it', () => {
    const documents = serviceDocuments();
    const holdResult = "export interface HoldResult extends Hold {\n  /** The sender's available balance after this operation */\n  available_balance: Amount;\n}";
    assert.ok(committed().includes(holdResult), 'HoldResult is Hold and available_balance');
    const tx = structuredClone(documents['transaction-service']!);
    const changed = tx.components!.schemas!.HoldResult as { required: string[] };
    changed.required = changed.required.filter((name) => name !== 'expires_at');
    assert.doesNotMatch(renderClientTypes({ ...documents, 'transaction-service': tx }), /HoldResult extends/);
  });

  test('every documented operation maps to a method the client has', () => {
    for (const [service, document] of Object.entries(serviceDocuments())) {
      const ids = Object.values(document.paths as Record<string, Record<string, { operationId: string }>>).flatMap((item) => Object.values(item).map((o) => o.operationId));
      const methods = OPERATION_METHODS[service as keyof typeof OPERATION_METHODS] as Record<string, string | null>;
      assert.deepEqual(Object.keys(methods).sort(), [...ids].sort(), service);
      for (const method of Object.values(methods)) {
        if (method !== null) assert.equal(typeof (WalletClient.prototype as unknown as Record<string, unknown>)[method], 'function', `${service}: ${method}`);
      }
    }
  });
});
