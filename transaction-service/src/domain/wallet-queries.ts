import { AppError, type Knex } from '@wallet/platform';
import { findBalanceMinor, findBalancesMinor, listLedgerPage, type LedgerRow } from '../data-access/wallet-read-view';
import { formatMinor } from './money';

/**
 * The read side of the wallet, over the one read view (data-access/wallet-read-view): balances and
 * history, straight from the books, with the domain's rules on top (an unknown user, decimal
 * amounts, pagination).
 */
export class WalletQueries {
  constructor(private readonly knex: Knex) {}

  /** The balance as a decimal string; 404 when the user has not arrived here (yet). */
  async getBalance(userId: string): Promise<{ user_id: string; balance: string }> {
    const minor = await findBalanceMinor(this.knex, userId);
    if (minor === undefined) throw new AppError('user_not_found', `No user ${userId}`);
    return { user_id: userId, balance: formatMinor(minor) };
  }

  /**
   * One page of the user's ledger, newest first, plus whether more follow. Keyset on seq: rows
   * committed later have larger seq values, so later pages never repeat or skip a row.
   */
  async listTransactions(
    userId: string,
    page: { limit: number; beforeSeq?: bigint },
  ): Promise<{ rows: LedgerRow[]; nextBeforeSeq: bigint | undefined }> {
    if ((await findBalanceMinor(this.knex, userId)) === undefined) throw new AppError('user_not_found', `No user ${userId}`);
    const rows = await listLedgerPage(this.knex, userId, { ...page, limit: page.limit + 1 });
    const shown = rows.slice(0, page.limit);
    const last = shown[shown.length - 1];
    return { rows: shown, nextBeforeSeq: rows.length > page.limit && last ? last.seq : undefined };
  }
}

/**
 * Balances of many users at once, as decimal strings; a user who has not arrived here (yet) is
 * absent. Reads committed balances only, like GET /users/:id/balance: no lock, never waits for a
 * transfer in flight.
 */
export async function readBalances(knex: Knex, userIds: string[]): Promise<Map<string, string>> {
  const rows = await findBalancesMinor(knex, [...new Set(userIds)]);
  return new Map([...rows].map(([userId, minor]) => [userId, formatMinor(minor)]));
}
