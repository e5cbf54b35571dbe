/**
 * The transactional outbox shared by user-service (writes rows in the same transaction as the
 * user) and outbox-relay (publishes them to Kafka). user-service's migration creates the table and
 * the trigger; both sides name the table and the wake-up channel from here so they cannot drift.
 */
export const OUTBOX_TABLE = 'outbox';

/** PostgreSQL NOTIFY channel signalled on every insert into the outbox (and by a replay). */
export const OUTBOX_NOTIFY_CHANNEL = 'wallet_outbox_inserted';
