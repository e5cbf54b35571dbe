import { runInTransaction, type Knex } from '@wallet/platform';
import { insertDeadLetters, type DeadLetter } from '../data-access/dead-letters-repository';
import { claimProcessedEvents, insertUsersIfAbsent } from '../data-access/user-events-repository';
import type { UserCreatedEvent } from './register-user';

export interface ChunkOutcome {
  /** Event ids whose user was created by this chunk. */
  registered: Set<string>;
  /** Valid events that changed nothing: an event id applied before, or a user that already existed. */
  duplicates: number;
  deadLettered: number;
}

/**
 * Applies a chunk of user-created events and dead-letters its unprocessable messages, all in one
 * transaction (one commit, one fsync, for the whole chunk): the event ids are claimed in one
 * statement, and only the newly claimed ones create users. A redelivered chunk (a crash before the
 * Kafka offset commit, a rebalance, a replay) therefore changes nothing the second time.
 *
 * Throws on any database error; nothing of the chunk is then committed. The caller decides
 * whether to retry (transient) or to fall back to one message at a time (a permanent refusal).
 */
export async function registerUsers(
  knex: Knex,
  chunk: { events: UserCreatedEvent[]; deadLetters: DeadLetter[] },
): Promise<ChunkOutcome> {
  // One event id twice in a chunk (a producer retry lands next to the original): the first one counts.
  const firstById = new Map<string, UserCreatedEvent>();
  for (const event of chunk.events) if (!firstById.has(event.eventId)) firstById.set(event.eventId, event);
  const unique = [...firstById.values()];

  return runInTransaction(knex, async (trx) => {
    const claimed = await claimProcessedEvents(trx, unique);
    const fresh = unique.filter((event) => claimed.has(event.eventId));
    // Two new events for one user in one chunk: the user is created once, by the first of them.
    const firstByUser = new Map<string, UserCreatedEvent>();
    for (const event of fresh) if (!firstByUser.has(event.payload.user_id)) firstByUser.set(event.payload.user_id, event);
    const created = await insertUsersIfAbsent(
      trx,
      [...firstByUser.values()].map((event) => ({ user_id: event.payload.user_id, created_at: new Date(event.payload.created_at) })),
    );
    await insertDeadLetters(trx, chunk.deadLetters);
    const registered = new Set(
      [...firstByUser.values()].filter((event) => created.has(event.payload.user_id)).map((event) => event.eventId),
    );
    return {
      registered,
      duplicates: chunk.events.length - registered.size,
      deadLettered: chunk.deadLetters.length,
    };
  });
}
