import pg from 'pg';
import type { Knex } from '@wallet/platform';
import { deleteOlderThan } from './delete-older-than';

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
    if (!answered) dropConnection(tx);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Destroys the transaction's socket: its pending statement fails at once as a lost connection. */
export function dropConnection(tx: MoneyTransaction): void {
  tx.connection?.connection?.stream?.destroy();
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

const SETTLE_SQL = `INSERT INTO money_batches (batch_id, outcome) VALUES ($1, 'aborted')
  ON CONFLICT (batch_id) DO NOTHING RETURNING batch_id`;
const OUTCOME_SQL = 'SELECT outcome FROM money_batches WHERE batch_id = $1';
const END_BACKEND_SQL = `SELECT pg_terminate_backend(pid, 5000) AS ended FROM pg_stat_activity
  WHERE pid = $1 AND backend_xid = ($2)::text::xid`;

/** Runs one statement; how a settler reaches the database (a pool, or a fresh connection per attempt). */
type Run = <Row>(sql: string, values: unknown[]) => Promise<Row[]>;

/**
 * Settles a batch from its marker. INSERT ... ON CONFLICT waits while the batch's own marker is
 * uncommitted (the batch is still open or still committing), up to the connection's lock_timeout
 * (then 55P03, and the caller ends the batch's backend). Once it proceeds:
 *  - the marker exists: the batch committed (the conflict is only seen after its COMMIT is durable);
 *  - it does not: the batch did not commit and now never can (our tombstone holds its key). The
 *    tombstone commits in this statement's own transaction, so a retry of a settle whose reply was
 *    lost finds it and answers 'aborted' again.
 */
async function settleWith(run: Run, batchId: string): Promise<BatchOutcome> {
  const inserted = await run(SETTLE_SQL, [batchId]);
  if (inserted.length === 1) return 'aborted';
  // A new statement, so a new snapshot: it sees the marker whose commit the INSERT waited for.
  const found = await run<{ outcome: BatchOutcome }>(OUTCOME_SQL, [batchId]);
  const outcome = found[0]?.outcome;
  if (!outcome) throw new Error(`the marker of money batch ${batchId} conflicted but cannot be read`);
  return outcome;
}

/**
 * Ends the batch's server process if it is still in that very transaction (same pid, same xid):
 * its transaction then rolls back and its row locks go. Run as the service's own role, which may
 * signal its own backends. A pid reused after a crash restart runs another xid and is left alone.
 */
async function endBackendWith(run: Run, backend: BatchBackend): Promise<boolean> {
  const rows = await run<{ ended: boolean }>(END_BACKEND_SQL, [backend.pid, backend.xid]);
  return rows[0]?.ended === true;
}

/** What the engine needs to settle a lost COMMIT. */
export interface BatchSettler {
  outcome(batchId: string): Promise<BatchOutcome>;
  endBackend(backend: BatchBackend): Promise<boolean>;
}

/** A settler on a pool: for tests and tools whose connections cannot go half-open. */
export function poolSettler(knex: Knex): BatchSettler {
  const run: Run = async <Row>(sql: string, values: unknown[]) => {
    const result = await knex.raw<{ rows: Row[] }>(sql.replace(/\$\d+/g, '?'), values as Knex.RawBinding[]);
    return result.rows;
  };
  return { outcome: (batchId) => settleWith(run, batchId), endBackend: (backend) => endBackendWith(run, backend) };
}

export interface SettlerOptions {
  url: string;
  applicationName: string;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  /** The whole attempt (connect, statements, end): past it the socket is destroyed and the attempt fails. */
  attemptTimeoutMs: number;
}

/**
 * The production settler: every attempt on a fresh connection with a hard client-side deadline.
 * A settle must end even when its own connection goes half-open (the database host died without a
 * reset): then no server-side timeout can answer, so the deadline destroys the socket and the
 * engine retries. Settling is idempotent, so a retry after an attempt we gave up on is safe.
 */
export function connectionPerAttemptSettler(options: SettlerOptions): BatchSettler {
  const attempt = <T>(work: (run: Run) => Promise<T>): Promise<T> => withDeadlinedClient(options, work);
  return {
    outcome: (batchId) => attempt((run) => settleWith(run, batchId)),
    endBackend: (backend) => attempt((run) => endBackendWith(run, backend)),
  };
}

async function withDeadlinedClient<T>(options: SettlerOptions, work: (run: Run) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: options.url,
    application_name: options.applicationName,
    lock_timeout: options.lockTimeoutMs,
    statement_timeout: options.statementTimeoutMs,
    connectionTimeoutMillis: options.attemptTimeoutMs,
  });
  // Without an 'error' listener a dropped connection would crash the process.
  client.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
      reject(new Error(`a settle attempt got no answer within ${options.attemptTimeoutMs} ms`));
    }, options.attemptTimeoutMs);
  });
  const run: Run = async <Row>(sql: string, values: unknown[]) => (await client.query<Row & pg.QueryResultRow>(sql, values)).rows;
  try {
    return await Promise.race([
      (async () => {
        await client.connect();
        return work(run);
      })(),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
    void client.end().catch(() => undefined);
  }
}

/** Deletes batch markers older than the retention, in slices so a large purge never holds locks long. */
export function purgeBatchMarkers(knex: Knex, olderThanHours: number, sliceSize = 5_000, maxSlices = 1_000): Promise<number> {
  return deleteOlderThan(knex, 'money_batches', olderThanHours, sliceSize, maxSlices);
}
