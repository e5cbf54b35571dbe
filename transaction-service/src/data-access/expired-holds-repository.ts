import type { Knex } from '@wallet/platform';

/**
 * The senders of up to `limit` holds whose expiry has come by the database's clock, oldest expiry
 * first. SKIP LOCKED: a hold some batch is resolving right now is that batch's, and several
 * sweepers (one per process) take different holds instead of queueing on the same ones. The row
 * locks last only this statement: the release itself is a money batch, which locks again.
 */
export async function findExpiredHoldSenders(knex: Knex, limit: number): Promise<{ senders: string[]; holds: number }> {
  const result = await knex.raw<{ rows: Array<{ from_user_id: string; holds: string }> }>(
    `SELECT from_user_id, count(*) AS holds FROM (
       SELECT from_user_id FROM holds
        WHERE status = 'held' AND expires_at <= now()
        ORDER BY expires_at
        LIMIT ?
        FOR UPDATE SKIP LOCKED
     ) due
     GROUP BY from_user_id`,
    [limit],
  );
  return { senders: result.rows.map((r) => r.from_user_id), holds: result.rows.reduce((n, r) => n + Number(r.holds), 0) };
}
