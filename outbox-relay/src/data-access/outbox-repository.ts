import { OUTBOX_NOTIFY_CHANNEL, OUTBOX_TABLE, type Knex } from '@wallet/platform';

export interface OutboxRow {
  id: string;
  event_id: string;
  event_type: string;
  aggregate_id: string;
  payload: Record<string, unknown>;
  created_at: Date;
}

/**
 * Locks up to `limit` unpublished rows, oldest first. SKIP LOCKED lets several relays run at once:
 * each takes rows no other relay holds, and a relay that dies releases its rows with its connection.
 */
export async function claimUnpublishedEvents(trx: Knex.Transaction, limit: number): Promise<OutboxRow[]> {
  return trx<OutboxRow>(OUTBOX_TABLE)
    .select('id', 'event_id', 'event_type', 'aggregate_id', 'payload', 'created_at')
    .whereNull('published_at')
    .orderBy('id')
    .limit(limit)
    .forUpdate()
    .skipLocked();
}

export async function markEventsPublished(trx: Knex.Transaction, ids: string[]): Promise<void> {
  await trx(OUTBOX_TABLE).whereIn('id', ids).update({ published_at: trx.fn.now() });
}

/** Kept on the rows (still unpublished) so an operator can see why they are waiting. */
export async function recordPublishFailure(trx: Knex.Transaction, ids: string[], error: string): Promise<void> {
  await trx(OUTBOX_TABLE)
    .whereIn('id', ids)
    .update({ attempts: trx.raw('attempts + 1'), last_error: error.slice(0, 1_000) });
}

export interface OutboxBacklog {
  unpublished: number;
  oldestAgeSeconds: number;
}

export async function measureBacklog(db: Knex): Promise<OutboxBacklog> {
  const result = await db.raw<{ rows: Array<{ unpublished: string; oldest_age_seconds: string | null }> }>(
    `SELECT count(*) AS unpublished,
            extract(epoch FROM (now() - min(created_at))) AS oldest_age_seconds
       FROM ${OUTBOX_TABLE} WHERE published_at IS NULL`,
  );
  const row = result.rows[0];
  return { unpublished: Number(row?.unpublished ?? 0), oldestAgeSeconds: Number(row?.oldest_age_seconds ?? 0) };
}

export interface ReplaySelection {
  fromEventId?: string;
  toEventId?: string;
  since?: Date;
  until?: Date;
  userId?: string;
}

/** The outbox row id (publication order) of an event, for --from/--to-event-id bounds. */
export async function findOutboxIdByEventId(db: Knex, eventId: string): Promise<string | undefined> {
  const row: { id: string } | undefined = await db(OUTBOX_TABLE).where('event_id', eventId).first('id');
  return row?.id;
}

/**
 * Marks the selected, already published rows unpublished again, so the relay's normal path
 * publishes them once more (consumers drop what they have already applied, by event id).
 */
export async function requeuePublishedEvents(
  trx: Knex.Transaction,
  bounds: { fromId?: string; toId?: string; since?: Date; until?: Date; userId?: string },
): Promise<number> {
  const query = trx(OUTBOX_TABLE).whereNotNull('published_at');
  if (bounds.fromId !== undefined) void query.where('id', '>=', bounds.fromId);
  if (bounds.toId !== undefined) void query.where('id', '<=', bounds.toId);
  if (bounds.since !== undefined) void query.where('created_at', '>=', bounds.since);
  if (bounds.until !== undefined) void query.where('created_at', '<', bounds.until);
  if (bounds.userId !== undefined) void query.where('aggregate_id', bounds.userId);
  return query.update({ published_at: null, attempts: 0, last_error: null });
}

/** Wakes every relay now (delivered when `trx` commits). */
export async function notifyRelays(trx: Knex.Transaction): Promise<void> {
  await trx.raw('SELECT pg_notify(?, ?)', [OUTBOX_NOTIFY_CHANNEL, '']);
}
