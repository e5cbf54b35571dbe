import { test } from 'node:test';
import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import { deleteOlderThan, type ExpiringTable } from '../src/data-access/delete-older-than';
import { purgeExpiredIdempotencyKeys } from '../src/data-access/idempotency-repository';
import { purgeBatchMarkers } from '../src/data-access/money-transaction';
import { walletTestDatabaseForFile } from './support/engine-rig';

/** Retention: the sliced, bounded DELETE behind the purge of idempotency keys and batch markers. */
const wallet = walletTestDatabaseForFile('retention', 'retention-fixtures');

const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000);

test('batch markers: slices of sliceSize, at most maxSlices a call; the next purge goes on; fresh markers stay', async () => {
  const old = Array.from({ length: 5 }, () => ({ batch_id: uuidv7(), created_at: hoursAgo(25) }));
  const fresh = Array.from({ length: 2 }, () => ({ batch_id: uuidv7(), created_at: hoursAgo(1) }));
  await wallet.db('money_batches').insert([...old, ...fresh]);
  assert.equal(await deleteOlderThan(wallet.db, 'money_batches', 24, 2, 2), 4, 'two slices of two');
  assert.equal(await purgeBatchMarkers(wallet.db, 24), 1, 'the rest');
  assert.equal(await purgeBatchMarkers(wallet.db, 24), 0);
  const left = await wallet.db('money_batches').select<Array<{ batch_id: string }>>('batch_id');
  assert.deepEqual(left.map((r) => r.batch_id).sort(), fresh.map((r) => r.batch_id).sort());
});

test('idempotency keys: every expired key in slices, fresh keys stay', async () => {
  const key = (idempotency_key: string, hours: number) => ({ endpoint: 'add-money', idempotency_key, request_hash: 'h', created_at: hoursAgo(hours) });
  await wallet.db('idempotency_keys').insert([key('old-1', 25), key('old-2', 48), key('old-3', 25), key('fresh', 23)]);
  assert.equal(await purgeExpiredIdempotencyKeys(wallet.db, 24, 2), 3);
  const left = await wallet.db('idempotency_keys').select<Array<{ idempotency_key: string }>>('idempotency_key');
  assert.deepEqual(left.map((r) => r.idempotency_key), ['fresh']);
});

test('a table outside the closed set is refused before any SQL runs', async () => {
  await assert.rejects(deleteOlderThan(wallet.db, 'users' as ExpiringTable, 24, 10, 1), /not a table with a retention: users/);
});
