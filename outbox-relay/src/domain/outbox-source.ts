import { EVENT_HEADERS, toMoneyEvent, type Knex } from '@wallet/platform';
import { claimPendingMoneyEvents, type PendingMoneyEvent } from '../data-access/money-events-repository';
import { claimUnpublishedEvents, markEventsPublished, recordPublishFailure, type OutboxRow } from '../data-access/outbox-repository';

/** One Kafka message, keyed so that all of one user's messages land on one partition, in order. */
export interface OutboxMessage {
  key: string;
  value: string;
  headers: Record<string, string>;
  /** When its row entered the outbox: for the publish-lag histogram. */
  queuedAt: Date;
}

/**
 * Where a relay takes its rows from, and how it marks them done. The relay loop (relay-outbox.ts)
 * is the same for every source: claim in a transaction, send, mark, commit.
 */
export interface OutboxSource<Row> {
  claim(trx: Knex.Transaction, limit: number): Promise<Row[]>;
  toMessage(row: Row): OutboxMessage;
  markPublished(trx: Knex.Transaction, rows: Row[]): Promise<void>;
  recordFailure(trx: Knex.Transaction, rows: Row[], error: string): Promise<void>;
}

/** user-service's outbox: user-created events, published as written. */
export const userCreatedSource: OutboxSource<OutboxRow> = {
  claim: claimUnpublishedEvents,
  toMessage: (row) => ({
    key: row.aggregate_id,
    value: JSON.stringify(row.payload),
    headers: { [EVENT_HEADERS.eventId]: row.event_id, [EVENT_HEADERS.eventType]: row.event_type },
    queuedAt: row.created_at,
  }),
  markPublished: (trx, rows) => markEventsPublished(trx, rows.map((row) => row.id)),
  recordFailure: (trx, rows, error) => recordPublishFailure(trx, rows.map((row) => row.id), error),
};

/** CloudEvents' content type of a structured-mode message (the whole event in the value). */
const CLOUDEVENTS_JSON = 'application/cloudevents+json; charset=UTF-8';

/** transaction-service's money outbox: each event built from its ledger row (ADR 10). */
export const moneyEventsSource: OutboxSource<PendingMoneyEvent> = {
  claim: claimPendingMoneyEvents,
  toMessage: (row) => ({
    key: row.user_id,
    value: JSON.stringify(toMoneyEvent(row)),
    headers: { 'content-type': CLOUDEVENTS_JSON },
    queuedAt: row.pending_since,
  }),
  // Claiming took the rows out of the outbox in this transaction: committing it is the mark.
  markPublished: () => Promise.resolve(),
  // The failure is counted and logged by the relay; the rows simply stay pending.
  recordFailure: () => Promise.resolve(),
};
