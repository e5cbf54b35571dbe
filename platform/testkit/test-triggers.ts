import type { Knex } from '@wallet/platform';

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
