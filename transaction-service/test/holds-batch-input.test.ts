/** REVIEW2 probe: no 500 for a client's mistake on the holds and batch endpoints. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTransactionServiceHarness, type TransactionServiceHarness } from '@wallet/platform/testkit';

let h: TransactionServiceHarness;
before(async () => {
  h = await startTransactionServiceHarness({ HOLD_SWEEP_INTERVAL_MS: '0' });
});
after(async () => {
  await h?.stop();
});

async function raw(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const response = await fetch(`${h.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body }),
  });
  return { status: response.status, text: await response.text() };
}

test('probe', async () => {
  const [a, b] = (await h.createUsers(2)) as [string, string];
  await h.fund(a, '100.00');
  const hold = await raw('POST', '/holds', JSON.stringify({ from_user_id: a, to_user_id: b, amount: '10.00' }));
  const holdId = (JSON.parse(hold.text) as { hold_id: string }).hold_id;
  const U = holdId.toUpperCase();
  const cases: Array<[string, string, string | undefined, Record<string, string>?]> = [
    ['POST', `/holds/${holdId}/capture`, 'null'],
    ['POST', `/holds/${holdId}/capture`, '[]'],
    ['POST', `/holds/${holdId}/capture`, '"x"'],
    ['POST', `/holds/${holdId}/capture`, '{"amount":1e400}'],
    ['POST', `/holds/${holdId}/capture`, '{"amount":"99999999999999999999999999"}'],
    ['POST', `/holds/${holdId}/capture`, '{"amount":"-1"}'],
    ['POST', `/holds/${holdId}/capture`, '{"amount":"0"}'],
    ['POST', `/holds/${holdId}/capture`, '{"amount":null}'],
    ['POST', `/holds/${U}/capture`, '{}'],
    ['POST', `/holds/not-a-uuid/capture`, '{}'],
    ['POST', `/holds/00000000-0000-0000-0000-000000000000/capture`, '{}'],
    ['POST', `/holds/ffffffff-ffff-ffff-ffff-ffffffffffff/void`, '{}'],
    ['POST', `/holds/${holdId}/void`, '{"x":1}'],
    ['POST', `/holds/${holdId}/void`, ''],
    ['GET', `/holds/${U}`, undefined],
    ['GET', `/holds/%00`, undefined],
    ['GET', `/holds/ffffffff-ffff-ffff-ffff-ffffffffffff`, undefined],
    ['GET', `/users/${a}/holds?cursor=aG9sZDp4`, undefined],
    ['GET', `/users/${a}/holds?cursor=${Buffer.from('hold:ffffffff-ffff-ffff-ffff-ffffffffffff').toString('base64url')}`, undefined],
    ['GET', `/users/${a}/holds?status=held&status=voided`, undefined],
    ['GET', `/users/${a}/holds?limit=1e2`, undefined],
    ['GET', `/users/${a}/holds?limit=0`, undefined],
    ['GET', `/users/${a}/balance?as_of=1970-01-01T00:00:00Z`, undefined],
    ['GET', `/users/${a}/balance?as_of=9999-12-31T23:59:59Z`, undefined],
    ['GET', `/users/${a}/balance?as_of=275760-09-13T00:00:00Z`, undefined],
    ['POST', '/holds', JSON.stringify({ from_user_id: a, to_user_id: b, amount: '1.00', expires_in_seconds: 2592000 })],
    ['POST', '/holds', JSON.stringify({ from_user_id: a, to_user_id: b, amount: '1.00', expires_in_seconds: 0 })],
    ['POST', '/holds', '{"from_user_id":"' + a + '","to_user_id":"' + b + '","amount":"1.00","expires_in_seconds":1.0}'],
    ['POST', '/holds', '{"from_user_id":"' + a + '","to_user_id":"' + b + '","amount":"1.00","expires_in_seconds":1e3}'],
    ['POST', '/holds', '{"from_user_id":"' + a + '","to_user_id":"' + b + '","amount":"1.00","expires_in_seconds":"10"}'],
    ['POST', '/holds', '{"from_user_id":"' + a + '","to_user_id":"' + b + '","amount":"1.00","expires_in_seconds":null}'],
    ['POST', '/holds', '{"from_user_id":"' + a + '","to_user_id":"' + b + '","amount":"1.00","expires_in_seconds":2592001}'],
    ['POST', '/holds', '{"from_user_id":"' + a + '","to_user_id":"' + b + '","amount":1.005}'],
    ['POST', '/holds', '{"from_user_id":"' + a + '","to_user_id":"' + b + '","amount":"1.00","__proto__":{"x":1}}'],
    ['POST', '/holds', JSON.stringify({ from_user_id: a, to_user_id: 'ffffffff-ffff-ffff-ffff-ffffffffffff', amount: '1.00' })],
    ['POST', '/batch', '{"operations":[{"op":"capture"}]}'],
    ['POST', '/batch', '{"operations":[{"op":"capture","hold_id":null}]}'],
    ['POST', '/batch', '{"operations":[{"op":"capture","hold_id":123}]}'],
    ['POST', '/batch', '{"operations":[{"op":"void","hold_id":"' + holdId + '","amount":"1"}]}'],
    ['POST', '/batch', '{"operations":[{"op":"release-expired","user_id":"' + a + '"}]}'],
    ['POST', '/batch', '{"operations":[{"op":"__proto__"}]}'],
    ['POST', '/batch', '{"operations":[{"op":"toString"}]}'],
    ['POST', '/batch', '{"operations":[{"op":"hasOwnProperty"}]}'],
    ['POST', '/batch', '{"operations":[null]}'],
    ['POST', '/batch', '{"operations":[[]]}'],
    ['POST', '/batch', '{"operations":[{"op":"hold","__proto__":{"op":"x"}}]}'],
    ['POST', '/batch', '{"operations":[{"op":"add-money","user_id":"' + a + '","amount":"1","idempotency_key":""}]}'],
    ['POST', '/batch', '{"operations":[{"op":"add-money","user_id":"' + a + '","amount":"1","idempotency_key":"  "}]}'],
    ['POST', '/batch', '{"operations":[{"op":"add-money","user_id":"' + a + '","amount":"1","idempotency_key":"\\u0000"}]}'],
    ['POST', '/batch', '{"atomic":true,"operations":[{"op":"capture","hold_id":"ffffffff-ffff-ffff-ffff-ffffffffffff"}]}'],
    ['POST', '/batch', '{"atomic":null,"operations":[{"op":"add-money","user_id":"' + a + '","amount":"1"}]}'],
    ['POST', '/batch', '{"operations":[{"op":"add-money","user_id":"' + a + '","amount":"1"}],"x":1}'],
    ['POST', '/batch', '{"operations":[{"op":"add-money","user_id":"' + a + '","amount":"1"}],"__proto__":{"atomic":true}}'],
    ['POST', `/holds/${holdId}/capture`, '{}', { 'Idempotency-Key': '""' }],
    ['POST', `/holds/${holdId}/capture`, '{"amount":"1.00"}', { 'Idempotency-Key': 'cap-1' }],
    ['POST', `/holds/${holdId}/capture`, '{"amount":"1.00"}', { 'Idempotency-Key': 'cap-1' }],
    ['POST', `/holds/${holdId}/void`, '{}', { 'Idempotency-Key': 'cap-1' }],
  ];
  const fivehundreds: string[] = [];
  for (const [method, path, body, headers] of cases) {
    const r = await raw(method, path, body, headers);
    if (r.status >= 500) fivehundreds.push(`${method} ${path} ${body}`);
  }
  assert.deepEqual(fivehundreds, []);
});
