import type { Knex } from '@wallet/platform';

/** Records that an event was applied; false when it already was (a redelivery or a replay). */
export async function insertProcessedEvent(trx: Knex.Transaction, eventId: string, eventType: string): Promise<boolean> {
  const rows = await trx('processed_events')
    .insert({ event_id: eventId, event_type: eventType })
    .onConflict('event_id')
    .ignore()
    .returning('event_id');
  return rows.length > 0;
}

/** Creates the wallet user with a zero balance; false when the user already exists. */
export async function insertUserIfAbsent(
  trx: Knex.Transaction,
  user: { user_id: string; created_at: Date },
): Promise<boolean> {
  const rows = await trx('users')
    .insert({ user_id: user.user_id, balance_minor: 0, created_at: user.created_at })
    .onConflict('user_id')
    .ignore()
    .returning('user_id');
  return rows.length > 0;
}

/**
 * Claims a chunk's event ids in one statement; returns the ids that were new (a redelivery or a
 * replay of an id already applied is not returned). One array per column, so no parameter limit.
 */
export async function claimProcessedEvents(
  trx: Knex.Transaction,
  events: Array<{ eventId: string; eventType: string }>,
): Promise<Set<string>> {
  if (events.length === 0) return new Set();
  const result = await trx.raw<{ rows: Array<{ event_id: string }> }>(
    `INSERT INTO processed_events (event_id, event_type)
     SELECT * FROM unnest(?::uuid[], ?::text[])
     ON CONFLICT (event_id) DO NOTHING
     RETURNING event_id`,
    [events.map((e) => e.eventId), events.map((e) => e.eventType)],
  );
  return new Set(result.rows.map((row) => row.event_id));
}

/** Creates the users that do not exist yet with a zero balance; returns the ids created now. */
export async function insertUsersIfAbsent(
  trx: Knex.Transaction,
  users: Array<{ user_id: string; created_at: Date }>,
): Promise<Set<string>> {
  if (users.length === 0) return new Set();
  const result = await trx.raw<{ rows: Array<{ user_id: string }> }>(
    `INSERT INTO users (user_id, balance_minor, created_at)
     SELECT u.user_id, 0, u.created_at FROM unnest(?::uuid[], ?::timestamptz[]) AS u (user_id, created_at)
     ON CONFLICT (user_id) DO NOTHING
     RETURNING user_id`,
    [users.map((u) => u.user_id), users.map((u) => u.created_at.toISOString())],
  );
  return new Set(result.rows.map((row) => row.user_id));
}
