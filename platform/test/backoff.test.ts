import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStoppableSleep, errorField, fullJitterBackoffMs, isDatabaseUnavailable, sqlState } from '@wallet/platform';

test('full jitter: every delay lies in [0, min(cap, base · 2^(attempt − 1))]', () => {
  for (let attempt = 1; attempt <= 40; attempt += 1) {
    const ceiling = Math.min(1_000, 10 * 2 ** (attempt - 1));
    for (let i = 0; i < 50; i += 1) {
      const delay = fullJitterBackoffMs(attempt, { baseMs: 10, capMs: 1_000 });
      assert.ok(delay >= 0 && delay <= ceiling, `attempt ${attempt}: ${delay} outside [0, ${ceiling}]`);
    }
  }
  // Full, not equal, jitter: short delays occur even at the cap.
  const delays = Array.from({ length: 200 }, () => fullJitterBackoffMs(20, { baseMs: 10, capMs: 1_000 }));
  assert.ok(delays.some((delay) => delay < 500));
});

test('a stopped sleep ends at once, and so does every later one', async () => {
  const pauses = createStoppableSleep();
  const started = Date.now();
  const pending = pauses.sleep(60_000);
  pauses.stop();
  await pending;
  await pauses.sleep(60_000);
  assert.ok(Date.now() - started < 1_000);
});

test('error fields are read off anything without a cast', () => {
  assert.equal(sqlState(Object.assign(new Error('x'), { code: '23505' })), '23505');
  assert.equal(sqlState({ code: 42 }), undefined);
  assert.equal(sqlState(null), undefined);
  assert.equal(sqlState('23505'), undefined);
  assert.equal(errorField({ constraint: 'users_email_key' }, 'constraint'), 'users_email_key');
  assert.ok(isDatabaseUnavailable({ code: '57P01' }));
  assert.ok(isDatabaseUnavailable(new Error('Connection terminated unexpectedly')));
  // A backend terminated between two statements of a batch: pg refuses the next query with this,
  // and knex then reports the transaction as complete. Both are a lost connection (review finding).
  assert.ok(isDatabaseUnavailable(new Error('Client has encountered a connection error and is not queryable')));
  assert.ok(isDatabaseUnavailable(new Error('Transaction query already complete, run with DEBUG=knex:tx for more info')));
  assert.ok(!isDatabaseUnavailable({ code: '23505' }));
});
