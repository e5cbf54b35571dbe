import type { Knex } from '@wallet/platform';

/** Records that an event was applied; false when it already was (a redelivery or a replay). */
export function insertProcessedEvent(trx: Knex.Transaction, eventId: string, eventType: string): Promise<boolean> {
  return insertUnlessPresent(trx, 'processed_events', { event_id: eventId, event_type: eventType }, 'event_id');
}

/** Creates the wallet user with a zero balance; false when the user already exists. */
export function insertUserIfAbsent(trx: Knex.Transaction, user: { user_id: string; created_at: Date }): Promise<boolean> {
  return insertUnlessPresent(trx, 'users', { user_id: user.user_id, balance_minor: 0, created_at: user.created_at }, 'user_id');
}

/** INSERT … ON CONFLICT (key) DO NOTHING RETURNING key: true when this insert made the row. */
async function insertUnlessPresent(trx: Knex.Transaction, table: string, row: Record<string, unknown>, key: string): Promise<boolean> {
  const rows = await trx(table).insert(row).onConflict(key).ignore().returning(key);
  return rows.length > 0;
}

/**
 * Claims a chunk's event ids in one statement; returns the ids that were new (a redelivery or a
 * replay of an id already applied is not returned). One array per column, so no parameter limit.
 */
export function claimProcessedEvents(trx: Knex.Transaction, events: Array<{ eventId: string; eventType: string }>): Promise<Set<string>> {
  return insertAllUnlessPresent(
    trx,
    'event_id',
    `INSERT INTO processed_events (event_id, event_type)
     SELECT * FROM unnest(?::uuid[], ?::text[])
     ON CONFLICT (event_id) DO NOTHING
     RETURNING event_id`,
    [events.map((e) => e.eventId), events.map((e) => e.eventType)],
  );
}

/** Creates the users that do not exist yet with a zero balance; returns the ids created now. */
export function insertUsersIfAbsent(trx: Knex.Transaction, users: Array<{ user_id: string; created_at: Date }>): Promise<Set<string>> {
  return insertAllUnlessPresent(
    trx,
    'user_id',
    `INSERT INTO users (user_id, balance_minor, created_at)
     SELECT u.user_id, 0, u.created_at FROM unnest(?::uuid[], ?::timestamptz[]) AS u (user_id, created_at)
     ON CONFLICT (user_id) DO NOTHING
     RETURNING user_id`,
    [users.map((u) => u.user_id), users.map((u) => u.created_at.toISOString())],
  );
}

/**
 * The set-based form of insertUnlessPresent: `sql` inserts the rows given as one array per column
 * and returns `key` of each row it made; no statement at all for an empty set.
 */
async function insertAllUnlessPresent(
  trx: Knex.Transaction,
  key: string,
  sql: string,
  columns: string[][],
): Promise<Set<string>> {
  if (!columns[0]?.length) return new Set();
  const result = await trx.raw<{ rows: Array<Record<string, string>> }>(sql, columns);
  return new Set(result.rows.map((row) => row[key]!));
}
