import { Readable } from 'node:stream';
import Joi from 'joi';
import type { Context } from 'koa';
import { AppError, instantSchema, PG_BIGINT_MAX, TRANSACTION_HISTORY_FIELDS, validateInput } from '@wallet/platform';
import type { LedgerRow, PeriodPosition } from '../../data-access/wallet-read-view';
import type { PeriodEntries, StatementPage } from '../../domain/statements';
import { toTransactionItem } from './history';

/** The HTTP shapes of balances at an instant and of statements: queries, cursor, JSON and CSV bodies. */

const asOfQuerySchema = Joi.object<{ as_of?: number }>({ as_of: instantSchema().label('as_of') });

/** GET /users/:id/balance's query: `as_of` (RFC 3339) or nothing (the current balance). */
export function parseAsOfQuery(raw: unknown): { asOfMs?: number } {
  const query = validateInput(asOfQuerySchema, raw);
  return query.as_of === undefined ? {} : { asOfMs: query.as_of };
}

/** A statement page size: a page is one bounded query and one bounded response. */
export const STATEMENT_MAX_LIMIT = 1_000;
const STATEMENT_DEFAULT_LIMIT = 100;

const statementQuerySchema = Joi.object<{ from?: number; to?: number; limit?: number; cursor?: string }>({
  from: instantSchema().label('from'),
  to: instantSchema().label('to'),
  limit: Joi.number().integer().min(1).max(STATEMENT_MAX_LIMIT),
  cursor: Joi.string()
    .max(128)
    .pattern(/^[A-Za-z0-9_-]+$/)
    .messages({ 'string.pattern.base': 'cursor is not valid: pass back a next_cursor value' }),
});

export interface StatementRequest {
  fromMs: number;
  /** Absent: now. */
  toMs?: number;
  limit: number;
  after?: PeriodPosition;
  /** Whether limit or cursor was given (a CSV statement is the whole period: it takes neither). */
  paged: boolean;
}

/**
 * GET /users/:id/statement's query. A cursor carries its period, so the next page reads the very
 * same [from, to) even when `to` was left to default to now; `from` and `to`, when given beside a
 * cursor, must name that period.
 */
export function parseStatementQuery(raw: unknown): StatementRequest {
  const query = validateInput(statementQuerySchema, raw);
  const limit = query.limit ?? STATEMENT_DEFAULT_LIMIT;
  const paged = query.limit !== undefined || query.cursor !== undefined;
  if (query.cursor === undefined) {
    if (query.from === undefined) throw new AppError('validation_failed', 'from is required (an RFC 3339 instant)');
    return { fromMs: query.from, ...(query.to === undefined ? {} : { toMs: query.to }), limit, paged };
  }
  const cursor = decodeStatementCursor(query.cursor);
  if ((query.from !== undefined && query.from !== cursor.fromMs) || (query.to !== undefined && query.to !== cursor.toMs)) {
    throw new AppError('validation_failed', 'from and to must be those of the statement the cursor came from (or be left out)');
  }
  return { fromMs: cursor.fromMs, toMs: cursor.toMs, limit, after: cursor.after, paged };
}

const CURSOR = /^st1\.(-?\d{1,16})\.(-?\d{1,16})\.(-?\d{1,19})\.(\d{1,19})$/;

export function encodeStatementCursor(next: { fromMs: number; toMs: number; after: PeriodPosition }): string {
  return Buffer.from(`st1.${next.fromMs}.${next.toMs}.${next.after.atMicros}.${next.after.sequence}`).toString('base64url');
}

function decodeStatementCursor(cursor: string): { fromMs: number; toMs: number; after: PeriodPosition } {
  const match = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  const invalid = new AppError('validation_failed', 'cursor is not valid: pass back a next_cursor value');
  if (!match) throw invalid;
  const [fromMs, toMs] = [Number(match[1]), Number(match[2])];
  const after = { atMicros: BigInt(match[3]!), sequence: BigInt(match[4]!) };
  // Out of what a Date or a BIGINT holds, PostgreSQL would fail the query: a 500, not a 400.
  const dateOk = (ms: number) => !Number.isNaN(new Date(ms).getTime());
  const micros = after.atMicros < 0n ? -after.atMicros : after.atMicros;
  if (!dateOk(fromMs) || !dateOk(toMs) || after.sequence > PG_BIGINT_MAX || micros > 8_640_000_000_000_000_000n) throw invalid;
  return { fromMs, toMs, after };
}

/** The JSON statement: the shape, items as history items oldest first. */
export function toStatementBody(page: StatementPage): Record<string, unknown> {
  const { rows, next, ...figures } = page;
  return { ...figures, items: rows.map(toTransactionItem), next_cursor: next ? encodeStatementCursor(next) : null };
}

/** Which body the client asked for: JSON unless it prefers text/csv; 406 when it accepts neither. */
export function statementFormat(ctx: Context): 'json' | 'csv' {
  const chosen = ctx.accepts('application/json', 'text/csv');
  if (chosen === false) throw new AppError('not_acceptable', 'A statement is application/json or text/csv');
  return chosen === 'text/csv' ? 'csv' : 'json';
}

/** The CSV columns: a history item's fields, in its order, so a row reads back as the same item. */
export const CSV_COLUMNS = TRANSACTION_HISTORY_FIELDS;

/** Rows joined into one chunk: few enough writes, and a chunk stays small. */
const CSV_ROWS_PER_CHUNK = 200;

/**
 * Streams the statement as CSV (RFC 4180: CRLF line ends, a field quoted only when it must be):
 * a header row, then one row per entry, then nothing. The body is pulled from the rows page by
 * page as the socket drains, so memory holds a few chunks whatever the period's length. A null
 * field is empty.
 */
export function writeStatementCsv(ctx: Context, userId: string, entries: PeriodEntries): void {
  ctx.type = 'text/csv; charset=utf-8';
  const stamp = (iso: string) => iso.replace(/[:.]/g, '');
  ctx.set('Content-Disposition', `attachment; filename="statement-${userId}-${stamp(entries.from)}-${stamp(entries.to)}.csv"`);
  ctx.body = Readable.from(csvChunks(entries.rows), { objectMode: false, highWaterMark: 64 * 1024 });
}

async function* csvChunks(rows: AsyncGenerator<LedgerRow>): AsyncGenerator<string> {
  let chunk = `${CSV_COLUMNS.join(',')}\r\n`;
  let inChunk = 0;
  for await (const row of rows) {
    const item = toTransactionItem(row);
    chunk += `${CSV_COLUMNS.map((column) => csvField(item[column])).join(',')}\r\n`;
    inChunk += 1;
    if (inChunk === CSV_ROWS_PER_CHUNK) {
      yield chunk;
      chunk = '';
      inChunk = 0;
    }
  }
  if (chunk !== '') yield chunk;
}

function csvField(value: string | null): string {
  if (value === null) return '';
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
