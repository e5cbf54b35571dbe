import { AppError, sleep, type Knex } from '@wallet/platform';
import {
  findBalanceAt,
  listPeriodPage,
  summarisePeriod,
  type LedgerPeriod,
  type LedgerRow,
  type PeriodPosition,
  type PeriodSummary,
} from '../data-access/wallet-read-view';
import { formatMinor } from './money';
import { awaitUserWriters } from './wallet-queries';

/**
 * Balances at an instant and statements of a period, answered so that an answer about a moment in
 * the past never changes once given (ADR 11). Two rules make it so:
 *  - an instant is answered only once settled: not in the future, and at least `settleMs` old
 *    (the clock skew allowed between the processes that write the ledger and this one);
 *  - the read first waits for the money batches in flight on the user (waitForUserWriters): a batch
 *    reads the time of its rows only once it holds the user's row lock, so a row this read cannot
 *    see yet gets a time later than the instant asked about.
 */
export interface StatementOptions {
  settleMs: number;
  /** The clock (ms since the epoch); tests may pin it. */
  now?: () => number;
}

export interface BalanceAt {
  user_id: string;
  balance: string;
  available_balance: string;
  as_of: string;
  sequence: string;
}

/** A statement page in domain terms: the period's figures as decimal strings, its rows, and where the next page starts. */
export interface StatementPage {
  user_id: string;
  from: string;
  to: string;
  opening_balance: string;
  closing_balance: string;
  total_credits: string;
  total_debits: string;
  entry_count: number;
  rows: LedgerRow[];
  /** The period (ms since the epoch) and the position after the last row shown, when more rows follow. */
  next: { fromMs: number; toMs: number; after: PeriodPosition } | undefined;
}

/** The rows of a whole period, oldest first, read a page at a time (for the CSV). */
export interface PeriodEntries {
  from: string;
  to: string;
  entryCount: number;
  rows: AsyncGenerator<LedgerRow>;
}

/** Rows read per query while a whole period is streamed: memory holds one page, whatever the period. */
const STREAM_PAGE_ROWS = 1_000;

export class StatementQueries {
  private readonly now: () => number;

  /** `knex`: a pool from createReadAtInstantPool (its lock_timeout bounds the wait for writers: then 503). */
  constructor(
    private readonly knex: Knex,
    private readonly options: StatementOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** The balance after every change at or before `asOfMs`: 0.00 and sequence 0 before the user's first change. */
  async balanceAt(userId: string, asOfMs: number): Promise<BalanceAt> {
    this.checkSettled(asOfMs, 'as_of');
    await this.waitForWriters(userId);
    const asOf = new Date(asOfMs);
    const found = await findBalanceAt(this.knex, userId, asOf);
    return {
      user_id: userId,
      balance: formatMinor(found.balanceMinor),
      available_balance: formatMinor(found.availableMinor),
      as_of: asOf.toISOString(),
      sequence: found.sequence.toString(),
    };
  }

  /** One page of the statement of [from, to): the period's figures (on every page) and up to `limit` rows after `after`. */
  async statement(
    userId: string,
    period: { fromMs: number; toMs?: number },
    page: { limit: number; after?: PeriodPosition },
  ): Promise<StatementPage> {
    const ledgerPeriod = await this.settledPeriod(userId, period);
    const [summary, rows] = await Promise.all([
      summarisePeriod(this.knex, ledgerPeriod),
      listPeriodPage(this.knex, ledgerPeriod, { limit: page.limit + 1, ...(page.after ? { after: page.after } : {}) }),
    ]);
    const shown = rows.slice(0, page.limit);
    const last = shown[shown.length - 1];
    const more = rows.length > page.limit && last !== undefined;
    return {
      ...describe(ledgerPeriod, summary),
      rows: shown.map((r) => r.row),
      next: more ? { fromMs: ledgerPeriod.from.getTime(), toMs: ledgerPeriod.to.getTime(), after: last.position } : undefined,
    };
  }

  /**
   * Every row of [from, to), oldest first. The checks (settled, user known) are done before this
   * resolves, so a caller can still answer an error before it starts writing; the rows are then read
   * STREAM_PAGE_ROWS at a time, each page only once the caller asks for it.
   */
  async periodEntries(userId: string, period: { fromMs: number; toMs?: number }): Promise<PeriodEntries> {
    const ledgerPeriod = await this.settledPeriod(userId, period);
    const summary = await summarisePeriod(this.knex, ledgerPeriod);
    const { from, to } = describe(ledgerPeriod, summary);
    return { from, to, entryCount: Number(summary.entries), rows: this.readPages(ledgerPeriod, summary.entries) };
  }

  private async *readPages(period: LedgerPeriod, entries: bigint): AsyncGenerator<LedgerRow> {
    // The period is settled: no row can join it, so its count bounds the pages (one more to see the end).
    const maxPages = Number(entries / BigInt(STREAM_PAGE_ROWS)) + 1;
    let after: PeriodPosition | undefined;
    for (let page = 0; page < maxPages; page += 1) {
      const rows = await listPeriodPage(this.knex, period, { limit: STREAM_PAGE_ROWS, ...(after ? { after } : {}) });
      for (const { row } of rows) yield row;
      if (rows.length < STREAM_PAGE_ROWS) return;
      after = rows[rows.length - 1]!.position;
    }
  }

  /** The period with `to` defaulted to now (then waited out until settled), checked, with its user's writers waited for. */
  private async settledPeriod(userId: string, period: { fromMs: number; toMs?: number }): Promise<LedgerPeriod> {
    let toMs = period.toMs;
    if (toMs === undefined) {
      // "Now" as the end of a period is answered once it has settled: a wait of at most settleMs.
      toMs = this.now();
      // A timer may fire a millisecond before Date.now() shows its time has come (they read
      // different clocks): wait until the clock the check reads agrees, a few rounds at most.
      const settledAt = toMs + this.options.settleMs;
      for (let round = 0; round < 5 && this.now() < settledAt; round += 1) await sleep(settledAt - this.now() + 1);
    }
    if (period.fromMs > toMs) throw new AppError('validation_failed', 'from must not be after to');
    this.checkSettled(toMs, 'to');
    await this.waitForWriters(userId);
    return { userId, from: new Date(period.fromMs), to: new Date(toMs) };
  }

  /** An instant in the future is a mistake (400 validation_failed); one less than settleMs old is not answered yet (400 as_of_not_settled). */
  private checkSettled(instantMs: number, label: string): void {
    const now = this.now();
    if (instantMs > now) throw new AppError('validation_failed', `${label} is in the future`);
    if (instantMs > now - this.options.settleMs) {
      throw new AppError(
        'as_of_not_settled',
        `${label} is less than ${this.options.settleMs} ms ago: changes at that instant may still be committing; ask again in a moment`,
      );
    }
  }

  private async waitForWriters(userId: string): Promise<void> {
    if (!(await awaitUserWriters(this.knex, userId))) throw new AppError('user_not_found', `No user ${userId}`);
  }
}

function describe(period: LedgerPeriod, summary: PeriodSummary): Omit<StatementPage, 'rows' | 'next'> {
  return {
    user_id: period.userId,
    from: period.from.toISOString(),
    to: period.to.toISOString(),
    opening_balance: formatMinor(summary.openingMinor),
    closing_balance: formatMinor(summary.closingMinor),
    total_credits: formatMinor(summary.creditsMinor),
    total_debits: formatMinor(summary.debitsMinor),
    entry_count: Number(summary.entries),
  };
}
