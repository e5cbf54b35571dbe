/**
 * What an atomic batch's response says as a whole (a pure rule, no database): "none was applied"
 * (422) only for a refused operation; 503 for a passing reason; 500 when the outcome is not known.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { atomicBatchRefusal, type BatchResultItem } from '../src/entry-points/http/batch-presenter';

const ok = (status = 201): BatchResultItem => ({ status, body: { transfer_id: 'x' }, replayed: false });
const problem = (status: number, code: string, retryAfter?: number): BatchResultItem => ({
  status,
  body: { code },
  replayed: false,
  ...(retryAfter === undefined ? {} : { retry_after: retryAfter }),
});
const linked = () => problem(422, 'linked_operation_failed');

test('every operation a success: applied, no refusal', () => {
  assert.equal(atomicBatchRefusal([ok(), ok(200)]), undefined);
});

test('a refused operation: 422 atomic_batch_refused, none was applied', () => {
  const refusal = atomicBatchRefusal([linked(), problem(422, 'insufficient_funds'), linked()]);
  assert.equal(refusal?.status, 422);
  assert.equal(refusal?.code, 'atomic_batch_refused');
  assert.equal(atomicBatchRefusal([problem(400, 'validation_failed'), linked()])?.code, 'atomic_batch_refused');
  // A real refusal beside a passing one is still a refusal: retrying would answer the same.
  assert.equal(atomicBatchRefusal([problem(503, 'service_unavailable', 1), problem(422, 'insufficient_funds')])?.code, 'atomic_batch_refused');
});

test('turned away for a passing reason (503, 504, a key in flight): 503 with the longest Retry-After', () => {
  const refusal = atomicBatchRefusal([problem(503, 'service_unavailable', 1), problem(503, 'service_unavailable', 3), linked()]);
  assert.equal(refusal?.status, 503);
  assert.equal(refusal?.code, 'service_unavailable');
  assert.deepEqual(refusal?.headers, { 'Retry-After': '3' });
  assert.equal(atomicBatchRefusal([problem(409, 'idempotency_request_in_flight'), linked()])?.code, 'service_unavailable');
  assert.equal(atomicBatchRefusal([problem(504, 'balance_timeout')])?.headers['Retry-After'], '1');
});

test('an outcome not known (a COMMIT that could not be settled): 500, never "none was applied"', () => {
  const refusal = atomicBatchRefusal([problem(500, 'internal_error'), problem(500, 'internal_error')]);
  assert.equal(refusal?.status, 500);
  assert.equal(refusal?.code, 'internal_error');
  assert.equal(atomicBatchRefusal([problem(503, 'service_unavailable', 1), problem(500, 'internal_error')])?.code, 'internal_error');
});
