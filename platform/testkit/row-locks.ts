import type { Knex } from '@wallet/platform';
import { waitFor } from './test-resources';

/**
 * A user's row lock held from outside a service: how tests park the money engine (its batch waits
 * on the lock) or make it meet a held row (lock timeout, set-aside), at a moment the test chooses.
 */
export interface HeldRowLock {
  /** Ends the holding transaction; safe to call more than once. */
  release(): Promise<void>;
}

/** Holds `userId`'s row lock in a transaction of `db` (one of its connections) until `release`. */
export async function holdRowLock(db: Knex, userId: string): Promise<HeldRowLock> {
  const gate = await db.transaction();
  await gate.raw('SELECT 1 FROM users WHERE user_id = ? FOR UPDATE', [userId]);
  return {
    release: async () => {
      if (!gate.isCompleted()) await gate.commit();
    },
  };
}

/** Runs `body` while `userId`'s row is locked from outside, and releases the lock whatever happens. */
export async function whileRowLocked<T>(db: Knex, userId: string, body: () => Promise<T>): Promise<T> {
  const lock = await holdRowLock(db, userId);
  try {
    return await body();
  } finally {
    await lock.release();
  }
}

/** Waits until a backend named `applicationName` waits on a lock. */
export async function waitUntilWaitingOnLock(db: Knex, applicationName: string, what: string): Promise<void> {
  await waitFor(
    async () => {
      const rows = await db.raw<{ rows: unknown[] }>(
        "SELECT 1 FROM pg_stat_activity WHERE application_name = ? AND wait_event_type = 'Lock'",
        [applicationName],
      );
      return rows.rows.length > 0 ? true : undefined;
    },
    { what },
  );
}
