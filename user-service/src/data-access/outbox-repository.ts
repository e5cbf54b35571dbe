import { OUTBOX_TABLE, type Knex } from '@wallet/platform';

export interface OutboxEvent {
  event_id: string;
  event_type: string;
  /** Kafka message key: events of one aggregate (user) stay in order on one partition. */
  aggregate_id: string;
  payload: Record<string, unknown>;
  created_at: Date;
}

/** Must run in the transaction that writes the aggregate, or the event could exist without it. */
export async function insertOutboxEvent(trx: Knex.Transaction, event: OutboxEvent): Promise<void> {
  await trx(OUTBOX_TABLE).insert({
    event_id: event.event_id,
    event_type: event.event_type,
    aggregate_id: event.aggregate_id,
    // knex would pass a plain object to pg, which serialises it; stringify to be explicit for jsonb.
    payload: JSON.stringify(event.payload),
    created_at: event.created_at,
  });
}
