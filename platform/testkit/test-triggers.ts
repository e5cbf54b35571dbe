import type { Knex } from '@wallet/platform';
import { waitFor } from './test-resources';

/** A test-only trigger: how tests make the database refuse, fail, kill or park at an exact point. */
export interface TestTrigger {
  /** Names the function and the trigger, and the counter sequence `<name>_calls` when `counter` is set. */
  name: string;
  /** When it fires, e.g. 'BEFORE INSERT ON users FOR EACH ROW'. */
  on: string;
  /** The PL/pgSQL statements between BEGIN and END. */
  body: string;
  /**
   * Creates the sequence `<name>_calls` for the body to count attempts with: a sequence is not
   * rolled back with the transaction, so "fail the first two attempts" can be written.
   */
  counter?: boolean;
}

/** Installs the trigger; the returned function removes it (and its counter) again. */
export async function installTestTrigger(db: Knex, trigger: TestTrigger): Promise<() => Promise<void>> {
  const { name, on, body, counter = false } = trigger;
  const table = /\bON\s+(\S+)/i.exec(on)?.[1];
  if (!table) throw new Error(`test trigger ${name}: no table in "${on}"`);
  await db.raw(`
    ${counter ? `CREATE SEQUENCE ${name}_calls;` : ''}
    CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${body} END $$;
    CREATE TRIGGER ${name} ${on} EXECUTE FUNCTION ${name}();`);
  return async () => {
    await db.raw(`DROP TRIGGER IF EXISTS ${name} ON ${table}; DROP FUNCTION IF EXISTS ${name}(); DROP SEQUENCE IF EXISTS ${name}_calls`);
  };
}

/** Statements held at a trigger until the test lets them go (installParkingTrigger). */
export interface ParkingTrigger {
  /** Resolves once a statement waits at the trigger. */
  waitUntilParked(what: string): Promise<void>;
  /** Lets the parked statements (and any later ones) through. */
  release(): Promise<void>;
  /** Lets them through if still held, and removes the trigger. */
  remove(): Promise<void>;
}

/**
 * A trigger (`name`, `on` as for installTestTrigger) that parks each statement reaching it on an
 * advisory lock (`key`) the test holds from now until release(): an interleaving forced rather
 * than hoped for.
 */
export async function installParkingTrigger(db: Knex, trigger: { name: string; on: string; key: number }): Promise<ParkingTrigger> {
  const { name, on, key } = trigger;
  const body = `PERFORM pg_advisory_lock_shared(${key}); PERFORM pg_advisory_unlock_shared(${key}); RETURN NULL;`;
  const removeTrigger = await installTestTrigger(db, { name, on, body });
  const gate = await db.transaction(); // holds the advisory lock until it ends
  await gate.raw('SELECT pg_advisory_xact_lock(?)', [key]);
  return {
    async waitUntilParked(what) {
      await waitFor(async () => {
        const waiting = await db.raw<{ rows: unknown[] }>(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = ${key} AND NOT granted`);
        return waiting.rows.length > 0 ? true : undefined;
      }, { timeoutMs: 10_000, what });
    },
    async release() {
      if (!gate.isCompleted()) await gate.commit();
    },
    async remove() {
      if (!gate.isCompleted()) await gate.rollback();
      await removeTrigger();
    },
  };
}
