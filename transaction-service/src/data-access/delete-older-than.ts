import type { Knex } from '@wallet/platform';

/**
 * The tables whose rows expire by age, each with its age column: the only names deleteOlderThan
 * puts into SQL. A table name never comes from input.
 */
const EXPIRING = {
  idempotency_keys: 'created_at',
  money_batches: 'created_at',
} as const;

export type ExpiringTable = keyof typeof EXPIRING;

/**
 * Deletes the rows of `table` older than `olderThanHours`, in slices of `sliceSize` so that a
 * large purge never holds locks for long, and at most `maxSlices` slices a call (the next call
 * goes on). Returns how many rows it deleted.
 */
export async function deleteOlderThan(knex: Knex, table: ExpiringTable, olderThanHours: number, sliceSize: number, maxSlices: number): Promise<number> {
  if (!Object.hasOwn(EXPIRING, table)) throw new Error(`not a table with a retention: ${String(table)}`);
  const column = EXPIRING[table];
  let total = 0;
  for (let slice = 0; slice < maxSlices; slice += 1) {
    const result = await knex.raw<{ rowCount: number }>(
      `DELETE FROM ?? WHERE ctid IN (
         SELECT ctid FROM ?? WHERE ?? < now() - make_interval(hours => ?) LIMIT ?
       )`,
      [table, table, column, olderThanHours, sliceSize],
    );
    total += result.rowCount;
    if (result.rowCount < sliceSize) break;
  }
  return total;
}
