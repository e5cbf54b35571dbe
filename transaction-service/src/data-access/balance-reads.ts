import type { Knex } from '@wallet/platform';

/**
 * The balances of many users in one query (one round trip whatever the number of requests waiting).
 * Users not found are simply absent from the map.
 */
export async function readBalances(db: Knex, userIds: string[]): Promise<Map<string, bigint>> {
  if (userIds.length === 0) return new Map();
  const result = await db.raw<{ rows: Array<{ user_id: string; balance_minor: string }> }>(
    'SELECT user_id, balance_minor FROM users WHERE user_id = ANY(?::uuid[])',
    [userIds],
  );
  return new Map(result.rows.map((row) => [row.user_id, BigInt(row.balance_minor)]));
}
