import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadTransactionServiceConfig as load } from '../src/config';

// The passwords are required (no defaults); these checks are about other settings.
const credentials = { NATS_PASSWORD: 'a-nats-password-of-length', KAFKA_SASL_PASSWORD: 'a-kafka-password-of-length' };
const loadTransactionServiceConfig = (env: NodeJS.ProcessEnv) => load({ ...credentials, ...env });

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

  test('every listener binds the loopback unless HOST / OPERATOR_HOST say otherwise', () => {
    const defaults = loadTransactionServiceConfig({});
    assert.equal(defaults.host, '127.0.0.1');
    assert.equal(defaults.operatorHost, '127.0.0.1');
    assert.equal(defaults.operatorPort, 3102);
    assert.equal(loadTransactionServiceConfig({ HOST: '0.0.0.0' }).host, '0.0.0.0');
    for (const bad of ['not a host', 'a;b', '']) {
      assert.throws(() => loadTransactionServiceConfig({ HOST: bad }), /HOST/, `HOST=${JSON.stringify(bad)}`);
    }
  });

  test('serves with its own login and migrates as the owner, by default', () => {
    const defaults = loadTransactionServiceConfig({});
    assert.equal(new URL(defaults.databaseUrl).username, 'transaction_service');
    assert.equal(new URL(defaults.migrationDatabaseUrl).username, 'wallet_transactions_owner');
  });

  test('POST /batch: at most BATCH_MAX_OPERATIONS operations (1000) in at most BATCH_BODY_LIMIT_BYTES (1 MiB)', () => {
    const defaults = loadTransactionServiceConfig({});
    assert.equal(defaults.batchMaxOperations, 1_000);
    assert.equal(defaults.batchBodyLimitBytes, 1_048_576);
    assert.equal(loadTransactionServiceConfig({ BATCH_MAX_OPERATIONS: '50' }).batchMaxOperations, 50);
    for (const bad of ['0', '-1', '10001', 'many', '1.5']) {
      assert.throws(() => loadTransactionServiceConfig({ BATCH_MAX_OPERATIONS: bad }), /BATCH_MAX_OPERATIONS/, bad);
    }
    for (const bad of ['0', '100', '99999999999']) {
      assert.throws(() => loadTransactionServiceConfig({ BATCH_BODY_LIMIT_BYTES: bad }), /BATCH_BODY_LIMIT_BYTES/, bad);
    }
  });
});
