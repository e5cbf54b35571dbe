/**
 * Money events (ADR 10): one CloudEvents 1.0 structured JSON message per change of one user's
 * balance, built from the ledger row the change wrote. transaction-service writes the row (and its
 * place in the money outbox) in the batch's own transaction; outbox-relay builds the event from it
 * with toMoneyEvent and publishes it keyed by user id. The JSON Schema of each type lives in
 * schemas/ (`<type>.json`) and the tests validate messages taken off Kafka against them.
 */

/** PostgreSQL NOTIFY channel signalled by every money batch that wrote ledger rows (and by a replay). */
export const MONEY_EVENTS_NOTIFY_CHANNEL = 'wallet_money_events';
/** The money outbox: one row per ledger row still to be published. */
export const MONEY_EVENTS_PENDING_TABLE = 'money_events_pending';

export const MONEY_EVENT_TYPES = {
  credit: 'wallet.money.credited.v1',
  debit: 'wallet.money.debited.v1',
  // Holds (ADR 12): they move the available balance, not the balance.
  hold: 'wallet.funds.held.v1',
  release: 'wallet.funds.released.v1',
} as const;
export type MoneyEventType = (typeof MONEY_EVENT_TYPES)[keyof typeof MONEY_EVENT_TYPES];

/** A ledger row as the relay reads it (BIGINT columns as decimal strings, never JS numbers). */
export interface LedgerEntryRow {
  id: string;
  user_id: string;
  type: 'credit' | 'debit' | 'hold' | 'release';
  kind: 'add_money' | 'transfer' | 'hold';
  amount_minor: string;
  balance_after_minor: string;
  available_after_minor: string;
  transfer_id: string | null;
  hold_id: string | null;
  counterparty_user_id: string | null;
  sequence: string;
  created_at: Date;
}

/** A credit or debit: a change of the balance. */
export interface MoneyEventData {
  user_id: string;
  entry_id: string;
  kind: 'add_money' | 'transfer';
  type: 'credit' | 'debit';
  /** Decimal string with exactly two decimals, as the API writes amounts. */
  amount: string;
  balance_after: string;
  available_balance_after: string;
  transfer_id: string | null;
  counterparty_user_id: string | null;
  /** Only on a capture's two entries: the hold it captured. */
  hold_id?: string;
  created_at: string;
}

/** A hold placed or released: a change of the available balance only. */
export interface FundsEventData {
  user_id: string;
  hold_id: string;
  amount: string;
  balance_after: string;
  available_balance_after: string;
  created_at: string;
}

export interface MoneyEvent {
  specversion: '1.0';
  /** The ledger entry's id: unique, and the same when the event is published again. */
  id: string;
  source: 'transaction-service';
  type: MoneyEventType;
  /** The user whose balance changed (also the Kafka message key). */
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  /** This user's event number, 1, 2, 3, ... with no gap and no repeat (CloudEvents sequence extension). */
  sequence: string;
  data: MoneyEventData | FundsEventData;
}

/**
 * Formats minor units as a decimal string with exactly two decimals: 1250n -> "12.50". The one
 * formatter: the API's responses and the events write amounts identically.
 */
export function formatMinor(minor: bigint): string {
  const negative = minor < 0n;
  const abs = negative ? -minor : minor;
  const text = `${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`;
  return negative ? `-${text}` : text;
}

export function toMoneyEvent(row: LedgerEntryRow): MoneyEvent {
  const time = row.created_at.toISOString();
  return {
    specversion: '1.0',
    id: row.id,
    source: 'transaction-service',
    type: MONEY_EVENT_TYPES[row.type],
    subject: row.user_id,
    time,
    datacontenttype: 'application/json',
    sequence: row.sequence,
    data: eventData(row, time),
  };
}

function eventData(row: LedgerEntryRow, time: string): MoneyEventData | FundsEventData {
  const amount = formatMinor(BigInt(row.amount_minor));
  const balance_after = formatMinor(BigInt(row.balance_after_minor));
  const available_balance_after = formatMinor(BigInt(row.available_after_minor));
  if (row.type === 'hold' || row.type === 'release') {
    return { user_id: row.user_id, hold_id: row.hold_id!, amount, balance_after, available_balance_after, created_at: time };
  }
  return {
    user_id: row.user_id,
    entry_id: row.id,
    kind: row.kind as MoneyEventData['kind'],
    type: row.type,
    amount,
    balance_after,
    available_balance_after,
    transfer_id: row.transfer_id,
    counterparty_user_id: row.counterparty_user_id,
    ...(row.hold_id === null ? {} : { hold_id: row.hold_id }),
    created_at: time,
  };
}
