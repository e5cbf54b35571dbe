import type { Knex } from '@wallet/platform';
import { findUserByEmail, type UserRow } from '../data-access/users-repository';

export type FindUserByEmail = (email: string) => Promise<UserRow | undefined>;

/**
 * email -> user, remembered for the most recently asked `maxEntries` emails. Safe because a user row
 * never changes once created: nothing updates or deletes users, and the email is unique. Only found
 * users are remembered (a user created a moment later must be found then). Saves GET /balance a
 * database round trip per request: the read path's largest cost after the NATS request itself.
 * `maxEntries` 0 turns it off.
 */
export function createUserLookup(knex: Knex, maxEntries: number): FindUserByEmail {
  if (maxEntries === 0) return (email) => findUserByEmail(knex, email);
  const cache = new Map<string, UserRow>();
  return async (email) => {
    const cached = cache.get(email);
    if (cached) {
      // Most recently used last: the first key is the one to evict.
      cache.delete(email);
      cache.set(email, cached);
      return cached;
    }
    const user = await findUserByEmail(knex, email);
    if (user) {
      cache.set(email, user);
      if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
    }
    return user;
  };
}
