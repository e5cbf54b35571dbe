import { AppError, type Knex } from '@wallet/platform';
import { findBalance, listLedgerPage, type LedgerRow } from '../data-access/wallet-repository';
import { formatMinor } from './money';

/** The read side of the wallet: balances and history, straight from the books. */
export class WalletQueries {
  constructor(private readonly knex: Knex) {}

  async getBalance(userId: string): Promise<{ user_id: string; balance: string }> {
    const balance = await this.findBalance(userId);
    if (balance === undefined) throw new AppError('user_not_found', `No user ${userId}`);
    return { user_id: userId, balance };
  }

  /** The balance as a decimal string, or undefined when the user has not arrived here (yet). */
  async findBalance(userId: string): Promise<string | undefined> {
    const minor = await findBalance(this.knex, userId);
    return minor === undefined ? undefined : formatMinor(minor);
  }

  /**
   * One page of the user's ledger, newest first, plus whether more follow. Keyset on seq: rows
   * committed later have larger seq values, so later pages never repeat or skip a row.
   */
  async listTransactions(
    userId: string,
    page: { limit: number; beforeSeq?: bigint },
  ): Promise<{ rows: LedgerRow[]; nextBeforeSeq: bigint | undefined }> {
    if ((await findBalance(this.knex, userId)) === undefined) throw new AppError('user_not_found', `No user ${userId}`);
    const rows = await listLedgerPage(this.knex, userId, { ...page, limit: page.limit + 1 });
    const shown = rows.slice(0, page.limit);
    const last = shown[shown.length - 1];
    return { rows: shown, nextBeforeSeq: rows.length > page.limit && last ? last.seq : undefined };
  }
}
