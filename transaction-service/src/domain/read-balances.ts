import type { Knex } from '@wallet/platform';
import { readBalances as readBalanceRows } from '../data-access/balance-reads';
import { formatMinor } from './money';

/**
 * Balances of many users at once, as decimal strings; a user who has not arrived here (yet) is
 * absent. Reads committed balances only, like GET /users/:id/balance: no lock, never waits for a
 * transfer in flight.
 */
export async function readBalances(knex: Knex, userIds: string[]): Promise<Map<string, string>> {
  const unique = [...new Set(userIds)];
  const rows = await readBalanceRows(knex, unique);
  return new Map([...rows].map(([userId, minor]) => [userId, formatMinor(minor)]));
}
