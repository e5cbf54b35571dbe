import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricValue, parsePrometheusText } from '@wallet/platform/testkit';

const TEXT = `# HELP wallet_operations_total Money operations by outcome
# TYPE wallet_operations_total counter
wallet_operations_total{operation="transfer",outcome="ok",service="tx"} 12
wallet_operations_total{operation="transfer",outcome="insufficient_funds",service="tx"} 1
wallet_operations_total{operation="add-money",outcome="ok",service="tx"} 3
batch_size_bucket{le="1"} 4
batch_size_bucket{le="+Inf"} 40
batch_size_sum 1.5e2
odd_labels{note="a \\"quoted\\" } brace, comma",path="C:\\\\tmp"} 7 1700000000000
up 1
`;

test('a value is a number: 1 is not 12, and a missing series is undefined', () => {
  assert.equal(metricValue(TEXT, 'wallet_operations_total', { operation: 'transfer', outcome: 'insufficient_funds' }), 1);
  assert.equal(metricValue(TEXT, 'wallet_operations_total', { operation: 'transfer', outcome: 'ok' }), 12);
  assert.equal(metricValue(TEXT, 'wallet_operations_total', { operation: 'transfer', outcome: 'limit' }), undefined);
  assert.equal(metricValue(TEXT, 'no_such_metric'), undefined);
  assert.equal(metricValue(TEXT, 'up'), 1);
});

test('labels are matched exactly and the series they select are summed', () => {
  assert.equal(metricValue(TEXT, 'wallet_operations_total', { outcome: 'ok' }), 15);
  assert.equal(metricValue(TEXT, 'wallet_operations_total'), 16);
  assert.equal(metricValue(TEXT, 'wallet_operations_total', { outcome: 'o' }), undefined, 'no substring match');
  assert.equal(metricValue(TEXT, 'wallet_operations', {}), undefined, 'no prefix match on the name');
});

test('bucket bounds, exponents, escapes and timestamps', () => {
  assert.equal(metricValue(TEXT, 'batch_size_bucket', { le: '1' }), 4);
  assert.equal(metricValue(TEXT, 'batch_size_bucket', { le: '+Inf' }), 40);
  assert.equal(metricValue(TEXT, 'batch_size_sum'), 150);
  assert.equal(metricValue(TEXT, 'odd_labels', { note: 'a "quoted" } brace, comma', path: 'C:\\tmp' }), 7);
  assert.deepEqual(parsePrometheusText('x{a="1"} +Inf\ny -Inf\nz NaN').map((s) => s.value), [Infinity, -Infinity, NaN]);
});

test('a line that is not a sample is an error, not a silent miss', () => {
  assert.throws(() => parsePrometheusText('wallet_operations_total{operation=transfer} 1'), /not a Prometheus/);
  assert.throws(() => parsePrometheusText('not a sample'), /not a Prometheus/);
});
