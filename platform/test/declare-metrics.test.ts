import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetricsRegistry, declareMetrics } from '@wallet/platform';
import { metricValue } from '@wallet/platform/testkit';

test('a counter with presentAtZero exports those label sets at 0 before anything counts, and only those', async () => {
  const registry = createMetricsRegistry('metrics-test');
  const counter = declareMetrics(registry).counter<'reason'>('test_failures_total', 'Failures by reason', ['reason'], {
    presentAtZero: [{ reason: 'publish' }, { reason: 'read' }],
  });
  let text = await registry.metrics();
  assert.equal(metricValue(text, 'test_failures_total', { reason: 'publish' }), 0);
  assert.equal(metricValue(text, 'test_failures_total', { reason: 'read' }), 0);
  assert.equal(metricValue(text, 'test_failures_total', { reason: 'other' }), undefined);
  counter.inc({ reason: 'publish' });
  text = await registry.metrics();
  assert.equal(metricValue(text, 'test_failures_total', { reason: 'publish' }), 1);
});
