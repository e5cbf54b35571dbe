import { AppError, sqlState, type Knex } from '@wallet/platform';
import {
  findAccount,
  findAccounts,
  findHold,
  listHoldsPage,
  listLedgerPage,
  waitForUserWriters,
  type HoldFilter,
  type LedgerRow,
} from '../data-access/wallet-read-view';
import type { HoldState } from './transfers/money-command';
import { formatMinor } from './money';

/**
 * The read side of the wallet, over the one read view (data-access/wallet-read-view): balances and
 * history, straight from the books, with the domain's rules on top (an unknown user, decimal
 * amounts, pagination).
 */
export class WalletQueries {
  /**
   * `knex`: the reads' pool. `writersKnex`: a pool from createReadAtInstantPool, for the rare wait
   * for a batch in flight (afterWriters): its lock_timeout bounds that wait (then 503).
   */
  constructor(
    private readonly knex: Knex,
    private readonly writersKnex: Knex,
  ) {}

  /** The balance and available balance as decimal strings; 404 when the user has not arrived here (yet). */
  async getBalance(userId: string): Promise<BalanceView> {
    let account = await findAccount(this.knex, userId);
    if (account?.countedUnreleasedExpiry) account = await this.afterWriters(userId, () => findAccount(this.knex, userId));
    if (account === undefined) throw new AppError('user_not_found', `No user ${userId}`);
    return { user_id: userId, balance: formatMinor(account.balanceMinor), available_balance: formatMinor(account.availableMinor) };
  }

  /** A hold, with the instant it is shown at (by the database's clock); 404 when there is none. */
  async getHold(holdId: string): Promise<{ hold: HoldState; shownAt: Date }> {
    let found = await findHold(this.knex, holdId);
    if (found && showsUnreleasedExpiry([found.hold], found.dbNow)) {
      const sender = found.hold.fromUserId;
      found = await this.afterWriters(sender, () => findHold(this.knex, holdId));
    }
    if (found === undefined) throw new AppError('hold_not_found', `No hold ${holdId}`);
    return { hold: found.hold, shownAt: found.dbNow };
  }

  /**
   * Reads again once no money batch holds the user's row (ADR 12, as ADR 11's reads at an instant).
   * A hold past its expiry whose row still says 'held' is shown 'expired' (and its money counted
   * available) — but a batch that captured or voided it by the database's clock BEFORE expiry may
   * still be committing: it holds the sender's row from before it read that clock until its COMMIT.
   * Without this wait a read could say 'expired' and, a moment later, 'captured'. Once the wait is
   * over, any batch that locks the sender reads the clock after expiry, so 'expired' is final.
   */
  private async afterWriters<T>(userId: string, read: () => Promise<T>): Promise<T> {
    await awaitUserWriters(this.writersKnex, userId);
    return read();
  }

  /** One page of the user's holds as sender, newest first; the cursor is the last hold shown. */
  async listHolds(
    userId: string,
    page: { limit: number; status?: HoldFilter; beforeHoldId?: string },
  ): Promise<{ holds: HoldState[]; shownAt: Date; nextBeforeHoldId: string | undefined }> {
    if ((await findAccount(this.knex, userId)) === undefined) throw new AppError('user_not_found', `No user ${userId}`);
    const readPage = () => listHoldsPage(this.knex, userId, { ...page, limit: page.limit + 1 });
    let { holds, dbNow } = await readPage();
    if (showsUnreleasedExpiry(holds, dbNow)) ({ holds, dbNow } = await this.afterWriters(userId, readPage));
    const shown = holds.slice(0, page.limit);
    const last = shown[shown.length - 1];
    return { holds: shown, shownAt: dbNow, nextBeforeHoldId: holds.length > page.limit && last ? last.holdId : undefined };
  }

  /**
   * One page of the user's ledger, newest first, plus whether more follow. Keyset on seq: rows
   * committed later have larger seq values, so later pages never repeat or skip a row.
   */
  async listTransactions(
    userId: string,
    page: { limit: number; beforeSeq?: bigint },
  ): Promise<{ rows: LedgerRow[]; nextBeforeSeq: bigint | undefined }> {
    if ((await findAccount(this.knex, userId)) === undefined) throw new AppError('user_not_found', `No user ${userId}`);
    const rows = await listLedgerPage(this.knex, userId, { ...page, limit: page.limit + 1 });
    const shown = rows.slice(0, page.limit);
    const last = shown[shown.length - 1];
    return { rows: shown, nextBeforeSeq: rows.length > page.limit && last ? last.seq : undefined };
  }
}

/**
 * Balances of many users at once, as decimal strings; a user who has not arrived here (yet) is
 * absent. Reads committed balances only, like GET /users/:id/balance: no lock, and it waits for a
 * batch in flight only where that one does — a user whose available balance counts an expired hold
 * not yet released is read again once no batch holds its row (WalletQueries.afterWriters' reason).
 */
export async function readBalances(knex: Knex, userIds: string[]): Promise<Map<string, { balance: string; available_balance: string }>> {
  const rows = await findAccounts(knex, [...new Set(userIds)]);
  const unsettled = [...rows].filter(([, account]) => account.countedUnreleasedExpiry).map(([userId]) => userId);
  // `knex` is the responder's pool, made for these waits (createReadAtInstantPool): each is bounded.
  for (const userId of unsettled) await awaitUserWriters(knex, userId);
  if (unsettled.length > 0) for (const [userId, account] of await findAccounts(knex, unsettled)) rows.set(userId, account);
  return new Map(
    [...rows].map(([userId, account]) => [userId, { balance: formatMinor(account.balanceMinor), available_balance: formatMinor(account.availableMinor) }]),
  );
}

/**
 * Waits until no money batch holds the user's row (waitForUserWriters), on a pool whose lock_timeout
 * bounds the wait: past it, 503 service_unavailable with Retry-After, never a 500. False when the
 * user is not here (yet).
 */
export async function awaitUserWriters(writersKnex: Knex, userId: string): Promise<boolean> {
  try {
    return await waitForUserWriters(writersKnex, userId);
  } catch (error) {
    if (sqlState(error) !== '55P03') throw error;
    throw new AppError('service_unavailable', 'A money operation on this user is still being committed; retry shortly', { cause: error });
  }
}

/** Whether any of these holds is shown 'expired' at `shownAt` while its row still says 'held'. */
function showsUnreleasedExpiry(holds: readonly HoldState[], shownAt: Date): boolean {
  return holds.some((hold) => hold.status === 'held' && shownAt.getTime() >= hold.expiresAt.getTime());
}

export interface BalanceView {
  user_id: string;
  /** The posted balance: the sum of the ledger. */
  balance: string;
  /** The balance less the user's active holds as sender: what transfers and holds may spend. */
  available_balance: string;
}
