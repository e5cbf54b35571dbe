/**
 * The chaos drill's direct look at the two services' databases (read-only), to prove what the
 * public API cannot show: each created user arrived exactly once, and its event was applied once.
 */
import { createKnex, type Knex } from '@wallet/platform';

export interface ArrivalFacts {
  /** Rows in transaction-service's users table. */
  transactionUsers: number;
  /** How many of the created user ids are among them. */
  createdFound: number;
  /** Rows in processed_events for user-created events. */
  processedUserCreated: number;
  deadLetters: number;
}

export async function readArrivalFacts(transactionDatabaseUrl: string, createdUserIds: readonly string[]): Promise<ArrivalFacts> {
  const knex: Knex = createKnex({ url: transactionDatabaseUrl, poolMax: 1, applicationName: 'chaos-inspect' });
  try {
    const result = await knex.raw<{
      rows: Array<{ users: string; found: string; processed: string; dead: string }>;
    }>(
      `SELECT (SELECT count(*) FROM users) AS users,
              (SELECT count(*) FROM users WHERE user_id = ANY (?::uuid[])) AS found,
              (SELECT count(*) FROM processed_events WHERE event_type = 'user-created') AS processed,
              (SELECT count(*) FROM dead_letters) AS dead`,
      // One text parameter holding an array literal: knex would expand a JS array into a list.
      [`{${createdUserIds.join(',')}}`],
    );
    const row = result.rows[0]!;
    return {
      transactionUsers: Number(row.users),
      createdFound: Number(row.found),
      processedUserCreated: Number(row.processed),
      deadLetters: Number(row.dead),
    };
  } finally {
    await knex.destroy();
  }
}

export interface OutboxFacts {
  users: number;
  events: number;
  unpublished: number;
}

export async function readOutboxFacts(userDatabaseUrl: string): Promise<OutboxFacts> {
  const knex: Knex = createKnex({ url: userDatabaseUrl, poolMax: 1, applicationName: 'chaos-inspect' });
  try {
    const result = await knex.raw<{ rows: Array<{ users: string; events: string; unpublished: string }> }>(
      `SELECT (SELECT count(*) FROM users) AS users,
              (SELECT count(*) FROM outbox WHERE event_type = 'user-created') AS events,
              (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS unpublished`,
    );
    const row = result.rows[0]!;
    return { users: Number(row.users), events: Number(row.events), unpublished: Number(row.unpublished) };
  } finally {
    await knex.destroy();
  }
}
