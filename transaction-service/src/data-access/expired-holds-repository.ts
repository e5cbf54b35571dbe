import type { Knex } from '@wallet/platform';

/**
 * The senders of up to `limit` holds whose expiry has come by the database's clock, oldest expiry
 * first. A plain read, no row lock: it never waits for a batch, and what it finds is only a hint —
 * the release is a money batch item that decides again under the sender's lock, so a hold some
 * batch resolved meanwhile, or another process's sweeper released first, is simply not released
 * twice. (A lock here would last only this statement, and cost a transaction id and WAL per round.)
 */
export async function findExpiredHoldSenders(knex: Knex, limit: number): Promise<{ senders: string[]; holds: number }> {
  const result = await knex.raw<{ rows: Array<{ from_user_id: string; holds: string }> }>(
    `SELECT from_user_id, count(*) AS holds FROM (
       SELECT from_user_id FROM holds
        WHERE status = 'held' AND expires_at <= now()
        ORDER BY expires_at
        LIMIT ?
     ) due
     GROUP BY from_user_id`,
    [limit],
  );
  return { senders: result.rows.map((r) => r.from_user_id), holds: result.rows.reduce((n, r) => n + Number(r.holds), 0) };
}
