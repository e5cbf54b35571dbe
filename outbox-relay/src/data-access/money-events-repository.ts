import {
  MONEY_EVENTS_NOTIFY_CHANNEL,
  MONEY_EVENTS_PENDING_TABLE,
  type Knex,
  type LedgerEntryRow,
} from '@wallet/platform';

/**
 * transaction-service's money outbox, as the relay's own DML-only login there sees it:
 * money_events_pending (one row per ledger row to publish) and the ledger rows they point at.
 */
export interface PendingMoneyEvent extends LedgerEntryRow {
  entry_seq: string;
  pending_since: Date;
}

/**
 * Takes up to `limit` pending events out of the outbox, in ledger order (seq), inside the caller's
 * transaction: if publishing fails, the rollback puts them back. A second relay running the same
 * statement selects the same lowest rows, so it waits on the first relay's deletes until that one
 * has published and committed, and then only takes later rows: one user's events can never
 * overtake each other across relays (for one user, seq order is sequence order: each batch wrote
 * its rows while holding the user's row lock, after the previous batch had committed). Deleting
 * (rather than SELECT ... FOR UPDATE) also needs no UPDATE privilege on the outbox.
 */
export async function claimPendingMoneyEvents(trx: Knex.Transaction, limit: number): Promise<PendingMoneyEvent[]> {
  const { rows } = await trx.raw<{ rows: PendingMoneyEvent[] }>(
    `WITH claimed AS (
       DELETE FROM ${MONEY_EVENTS_PENDING_TABLE} p
        WHERE p.entry_seq IN (SELECT entry_seq FROM ${MONEY_EVENTS_PENDING_TABLE} ORDER BY entry_seq LIMIT ?)
       RETURNING p.entry_seq, p.created_at
     )
     SELECT c.entry_seq::text, c.created_at AS pending_since, t.id, t.user_id, t.type, t.kind,
            t.amount_minor::text, t.balance_after_minor::text, coalesce(t.available_after_minor, t.balance_after_minor)::text AS available_after_minor, t.transfer_id, t.hold_id,
            t.counterparty_user_id,
            t.sequence::text, t.created_at
       FROM claimed c
       JOIN transactions t ON t.seq = c.entry_seq
      ORDER BY c.entry_seq`,
    [limit],
  );
  return rows;
}

export async function measureMoneyEventsBacklog(db: Knex): Promise<{ unpublished: number; oldestAgeSeconds: number }> {
  const { rows } = await db.raw<{ rows: Array<{ unpublished: string; oldest_age_seconds: string | null }> }>(
    `SELECT count(*) AS unpublished, extract(epoch FROM (now() - min(created_at))) AS oldest_age_seconds
       FROM ${MONEY_EVENTS_PENDING_TABLE}`,
  );
  return { unpublished: Number(rows[0]?.unpublished ?? 0), oldestAgeSeconds: Number(rows[0]?.oldest_age_seconds ?? 0) };
}

export interface MoneyReplayBounds {
  /** Ledger order bounds (seq of the entries named by --from/--to-event-id). */
  fromSeq?: string;
  toSeq?: string;
  since?: Date;
  until?: Date;
  userId?: string;
}

/** The ledger order (seq) of an event: its id is the ledger entry's id. */
export async function findEntrySeqByEventId(db: Knex, eventId: string): Promise<string | undefined> {
  const { rows } = await db.raw<{ rows: Array<{ seq: string }> }>('SELECT seq::text FROM transactions WHERE id = ?', [eventId]);
  return rows[0]?.seq;
}

/**
 * Puts the selected ledger entries back in the money outbox (those already waiting stay as they
 * are), and wakes the relays when this commits. The relay rebuilds each event from its ledger row,
 * so a replayed event is identical, id included; consumers drop it by id.
 */
export async function requeueMoneyEvents(trx: Knex.Transaction, bounds: MoneyReplayBounds): Promise<number> {
  const query = trx('transactions').select('seq');
  if (bounds.fromSeq !== undefined) void query.where('seq', '>=', bounds.fromSeq);
  if (bounds.toSeq !== undefined) void query.where('seq', '<=', bounds.toSeq);
  if (bounds.since !== undefined) void query.where('created_at', '>=', bounds.since);
  if (bounds.until !== undefined) void query.where('created_at', '<', bounds.until);
  if (bounds.userId !== undefined) void query.where('user_id', bounds.userId);
  const result = await trx.raw<{ rowCount: number }>(
    `INSERT INTO ${MONEY_EVENTS_PENDING_TABLE} (entry_seq) ${query.toQuery()} ON CONFLICT (entry_seq) DO NOTHING`,
  );
  if (result.rowCount > 0) await trx.raw('SELECT pg_notify(?, ?)', [MONEY_EVENTS_NOTIFY_CHANNEL, '']);
  return result.rowCount;
}
