import type { Knex } from '@wallet/platform';

/**
 * Transaction control for money batches: BEGIN, COMMIT, ROLLBACK, and the settlement of a COMMIT
 * whose reply was lost (ADR 6). The batch's own SQL is in money-batch-repository.ts.
 */

/** Who ran a batch's transaction: enough to make sure it can no longer commit. */
export interface BatchBackend {
  /** The server process of the batch's connection (pg_backend_pid()). */
  pid: number;
  /** Its transaction id, as pg_stat_activity.backend_xid shows it (32 bits, decimal). */
  xid: string;
}

/**
 * An open batch transaction. `batchId` names the marker row the batch writes (money_batches):
 * the durable evidence that it committed. `backend` is learnt from the batch's write.
 */
export interface MoneyTransaction {
  trx: Knex.Transaction;
  batchId: string;
  backend: BatchBackend | undefined;
  /** The pg client under trx: destroyed when its COMMIT gets no reply, so the pool does not keep it for ever. */
  connection?: PgConnection;
}

export async function beginMoneyTransaction(knex: Knex, batchId: string): Promise<MoneyTransaction> {
  const trx = await knex.transaction();
  // knex reports a failed COMMIT or a rollback on executionPromise, not on commit(); keep the
  // rejection handled here and read it in commitMoneyTransaction.
  trx.executionPromise.catch(() => undefined);
  // The transaction's own pg client (knex's transaction client hands back its one connection).
  const connection = (await (trx.client as unknown as { acquireConnection(): Promise<unknown> }).acquireConnection()) as PgConnection;
  return { trx, batchId, backend: undefined, connection };
}

/** The part of node-postgres' Client we need: its socket, to drop a connection we gave up on. */
interface PgConnection {
  connection?: { stream?: { destroy(): void } };
}

/**
 * COMMIT; rejects when the server refused it, the connection died, or no reply came within
 * `timeoutMs` (see settleBatchOutcome). A COMMIT we stop waiting for may still be in flight: the
 * settlement ends it for sure (endBatchBackend), and the connection goes with it.
 */
export async function commitMoneyTransaction(tx: MoneyTransaction, timeoutMs?: number): Promise<void> {
  let answered = false;
  const committed = (async () => {
    try {
      await tx.trx.commit();
      await tx.trx.executionPromise;
    } finally {
      answered = true;
    }
  })();
  if (timeoutMs === undefined) return committed;
  committed.catch(() => undefined); // its fate is learnt from the marker, not from this promise
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`COMMIT got no reply within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([committed, timedOut]);
  } catch (error) {
    // We stop waiting: drop the socket. A half-open connection would otherwise never answer, the
    // COMMIT promise never settle and knex never give the connection back (the pool leaks one
    // connection per lost COMMIT). The outcome is settled from the marker either way.
    if (!answered) tx.connection?.connection?.stream?.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

export async function rollbackQuietly(tx: MoneyTransaction): Promise<void> {
  if (tx.trx.isCompleted()) return;
  try {
    await tx.trx.rollback();
  } catch {
    // The connection is gone: PostgreSQL rolls back a transaction whose session ended.
  }
}

export type BatchOutcome = 'committed' | 'aborted';

/**
 * Settles a batch from its marker. INSERT ... ON CONFLICT waits while the batch's own marker is
 * uncommitted (the batch is still open or still committing), up to the connection's lock_timeout
 * (then 55P03, and the caller ends the batch's backend). Once it proceeds:
 *  - the marker exists: the batch committed (the conflict is only seen after its COMMIT is durable);
 *  - it does not: the batch did not commit and now never can (our tombstone holds its key). The
 *    tombstone commits in this statement's own transaction, so a retry of a settle whose reply was
 *    lost finds it and answers 'aborted' again.
 */
export async function settleBatchOutcome(knex: Knex, batchId: string): Promise<BatchOutcome> {
  const inserted = await knex.raw<{ rows: unknown[] }>(
    `INSERT INTO money_batches (batch_id, outcome) VALUES (?, 'aborted')
     ON CONFLICT (batch_id) DO NOTHING RETURNING batch_id`,
    [batchId],
  );
  if (inserted.rows.length === 1) return 'aborted';
  // A new statement, so a new snapshot: it sees the marker whose commit the INSERT waited for.
  const found = await knex.raw<{ rows: Array<{ outcome: BatchOutcome }> }>('SELECT outcome FROM money_batches WHERE batch_id = ?', [
    batchId,
  ]);
  const outcome = found.rows[0]?.outcome;
  if (!outcome) throw new Error(`the marker of money batch ${batchId} conflicted but cannot be read`);
  return outcome;
}

/**
 * Ends the batch's server process if it is still in that very transaction (same pid, same xid):
 * its transaction then rolls back and its row locks go. Run as the service's own role, which may
 * signal its own backends. A pid reused after a crash restart runs another xid and is left alone.
 */
export async function endBatchBackend(knex: Knex, backend: BatchBackend): Promise<boolean> {
  const result = await knex.raw<{ rows: Array<{ ended: boolean }> }>(
    `SELECT pg_terminate_backend(pid, 5000) AS ended FROM pg_stat_activity
      WHERE pid = ? AND backend_xid = (?)::text::xid`,
    [backend.pid, backend.xid],
  );
  return result.rows[0]?.ended === true;
}

/** Deletes batch markers older than the retention, in slices so a large purge never holds locks long. */
export async function purgeBatchMarkers(knex: Knex, olderThanHours: number, sliceSize = 5_000, maxSlices = 1_000): Promise<number> {
  let total = 0;
  for (let slice = 0; slice < maxSlices; slice += 1) {
    const result = await knex.raw<{ rowCount: number }>(
      `DELETE FROM money_batches WHERE ctid IN (
         SELECT ctid FROM money_batches WHERE created_at < now() - make_interval(hours => ?) LIMIT ?
       )`,
      [olderThanHours, sliceSize],
    );
    total += result.rowCount;
    if (result.rowCount < sliceSize) break;
  }
  return total;
}
