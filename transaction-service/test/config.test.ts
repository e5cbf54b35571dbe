import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadTransactionServiceConfig } from '../src/config';

describe('transaction-service configuration', () => {
  test('MAX_AMOUNT takes only what parseAmount reads, and more than zero', () => {
    for (const good of ['1000000000.00', '5', '0.01', '999999999999999.99']) {
      assert.equal(loadTransactionServiceConfig({ MAX_AMOUNT: good }).maxAmount, good);
    }
    // Each of these used to pass the check and then crash the start-up with a stack trace.
    for (const bad of ['0100', '0', '0.00', '1000000000000000', '1e9', '-5', '1.001', '']) {
      assert.throws(() => loadTransactionServiceConfig({ MAX_AMOUNT: bad }), /MAX_AMOUNT/, `MAX_AMOUNT=${JSON.stringify(bad)}`);
    }
  });
});
