import type { Knex } from '@wallet/platform';
import { MONEY_EVENTS_NOTIFY_CHANNEL } from '@wallet/platform';
import type { HoldState, HoldStatus, SequencedLeg, TransferRow } from '../domain/transfers/money-command';

/**
 * The set-based SQL of one money batch. Every statement takes whole columns as typed arrays
 * (`unnest($1::uuid[], …)`), so a batch of any size is a fixed number of statements with a
 * fixed number of parameters. BIGINT values travel as decimal strings and are converted to
 * bigint here, never in the domain.
 */

export interface KeyClaim {
  endpoint: string;
  key: string;
  requestHash: string;
}

export function keyId(endpoint: string, key: string): string {
  return `${endpoint}\n${key}`;
}

/**
 * Claims many keys in one statement, in (endpoint, key) order — the one order every batch
 * uses, so two batches claiming overlapping keys queue instead of deadlocking. A key held by
 * an uncommitted claim elsewhere makes this wait for that transaction; a key already taken is
 * left out of the result. Returns the ids (keyId) of the keys this transaction now holds.
 */
export async function claimIdempotencyKeys(trx: Knex.Transaction, claims: readonly KeyClaim[]): Promise<Set<string>> {
  if (claims.length === 0) return new Set();
  const result = await trx.raw<{ rows: Array<{ endpoint: string; idempotency_key: string }> }>(
    `INSERT INTO idempotency_keys (endpoint, idempotency_key, request_hash)
     SELECT endpoint, idempotency_key, request_hash
       FROM unnest(?::text[], ?::text[], ?::text[]) AS c(endpoint, idempotency_key, request_hash)
      ORDER BY endpoint, idempotency_key
     ON CONFLICT (endpoint, idempotency_key) DO NOTHING
     RETURNING endpoint, idempotency_key`,
    [claims.map((c) => c.endpoint), claims.map((c) => c.key), claims.map((c) => c.requestHash)],
  );
  return new Set(result.rows.map((r) => keyId(r.endpoint, r.idempotency_key)));
}

export interface StoredIdempotencyRecord {
  requestHash: string;
  responseStatus: number | null;
  responseBody: Record<string, unknown> | null;
  /** The domain's code of the stored outcome ('ok' or an error code); null for keys stored before it was kept. */
  outcomeCode: string | null;
}

/** The stored records of keys taken before this transaction, by keyId. */
export async function findIdempotencyRecords(
  trx: Knex.Transaction,
  keys: ReadonlyArray<{ endpoint: string; key: string }>,
): Promise<Map<string, StoredIdempotencyRecord>> {
  if (keys.length === 0) return new Map();
  const result = await trx.raw<{
    rows: Array<{
      endpoint: string;
      idempotency_key: string;
      request_hash: string;
      response_status: number | null;
      response_body: Record<string, unknown> | null;
      outcome_code: string | null;
    }>;
  }>(
    `SELECT k.endpoint, k.idempotency_key, k.request_hash, k.response_status, k.response_body, k.outcome_code
       FROM idempotency_keys k
       JOIN unnest(?::text[], ?::text[]) AS w(endpoint, idempotency_key)
         ON k.endpoint = w.endpoint AND k.idempotency_key = w.idempotency_key`,
    [keys.map((k) => k.endpoint), keys.map((k) => k.key)],
  );
  return new Map(
    result.rows.map((r) => [
      keyId(r.endpoint, r.idempotency_key),
      { requestHash: r.request_hash, responseStatus: r.response_status, responseBody: r.response_body, outcomeCode: r.outcome_code },
    ]),
  );
}

/**
 * How a batch takes its users' row locks: 'wait' queues behind other holders (for at most the
 * connection's lock_timeout); 'skip-locked' takes only the rows nobody holds and never waits.
 */
export type LockMode = 'wait' | 'skip-locked';

/**
 * Locks the users' rows in user_id order (the order every batch and every process uses) and
 * returns their balances. A user who has not arrived is simply absent, and so, with
 * 'skip-locked', is one whose row another transaction holds (see findUsers).
 */
export interface LockedUserRow {
  balanceMinor: bigint;
  /** What the user's holds reserve, expired ones not yet released included. */
  heldMinor: bigint;
  /** The user's last ledger sequence number (0 before the first change). */
  lastSequence: bigint;
  /** The time of the user's last ledger row (undefined before the first change): the next may not be earlier. */
  lastEntryAt: Date | undefined;
}

export async function lockBalances(trx: Knex.Transaction, userIds: readonly string[], mode: LockMode = 'wait'): Promise<Map<string, LockedUserRow>> {
  if (userIds.length === 0) return new Map();
  type Row = { user_id: string; balance_minor: string; held_minor: string; last_sequence: string; last_entry_at: Date | null };
  const result = await trx.raw<{ rows: Row[] }>(
    `SELECT user_id, balance_minor, held_minor, last_sequence, last_entry_at FROM users
      WHERE user_id = ANY(?::uuid[])
      ORDER BY user_id
      FOR NO KEY UPDATE${mode === 'skip-locked' ? ' SKIP LOCKED' : ''}`,
    [[...userIds]],
  );
  return new Map(
    result.rows.map((r) => [
      r.user_id,
      {
        balanceMinor: BigInt(r.balance_minor),
        heldMinor: BigInt(r.held_minor),
        lastSequence: BigInt(r.last_sequence),
        lastEntryAt: r.last_entry_at ?? undefined,
      },
    ]),
  );
}

/** Which of these users exist, without locking anything (tells a held row from a missing user). */
export async function findUsers(trx: Knex.Transaction, userIds: readonly string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const result = await trx.raw<{ rows: Array<{ user_id: string }> }>('SELECT user_id FROM users WHERE user_id = ANY(?::uuid[])', [
    [...userIds],
  ]);
  return new Set(result.rows.map((r) => r.user_id));
}

/** The two users of each hold found (holds not found are absent). Unlocked: a hold's users never change. */
export async function findHoldParties(
  trx: Knex.Transaction,
  holdIds: readonly string[],
): Promise<Map<string, { fromUserId: string; toUserId: string }>> {
  if (holdIds.length === 0) return new Map();
  const result = await trx.raw<{ rows: Array<{ hold_id: string; from_user_id: string; to_user_id: string }> }>(
    'SELECT hold_id, from_user_id, to_user_id FROM holds WHERE hold_id = ANY(?::uuid[])',
    [[...holdIds]],
  );
  return new Map(result.rows.map((r) => [r.hold_id, { fromUserId: r.from_user_id, toUserId: r.to_user_id }]));
}

export interface HoldRow {
  hold_id: string;
  from_user_id: string;
  to_user_id: string;
  amount_minor: string;
  status: HoldStatus;
  captured_amount_minor: string | null;
  transfer_id: string | null;
  expires_at: Date;
  created_at: Date;
  resolved_at: string | null;
}

export function toHoldState(row: HoldRow): HoldState {
  return {
    holdId: row.hold_id,
    fromUserId: row.from_user_id,
    toUserId: row.to_user_id,
    amountMinor: BigInt(row.amount_minor),
    status: row.status,
    capturedAmountMinor: row.captured_amount_minor === null ? null : BigInt(row.captured_amount_minor),
    transferId: row.transfer_id,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    resolvedAt: row.resolved_at,
  };
}

/** The columns of a hold, as toHoldState reads them (resolved_at as text: exact to the microsecond). */
export const HOLD_COLUMNS = `h.hold_id, h.from_user_id, h.to_user_id, h.amount_minor, h.status, h.captured_amount_minor,
  h.transfer_id, h.expires_at, h.created_at, h.resolved_at::text AS resolved_at`;

/**
 * Locks (FOR UPDATE, in hold_id order) the named holds and the active expired ones of the given
 * senders, and reads the database's clock ONCE, after the caller's user locks: `due` compares
 * each hold's expiry with that very reading, and dbNow is returned exactly (text, microseconds).
 */
export async function lockHolds(
  trx: Knex.Transaction,
  holdIds: readonly string[],
  senders: readonly string[],
): Promise<{ dbNow: string; holds: Array<{ hold: HoldState; due: boolean }> }> {
  const result = await trx.raw<{ rows: Array<HoldRow & { db_now: string | null; due: boolean | null }> }>(
    `WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS db_now),
     locked AS (
       SELECT ${HOLD_COLUMNS} FROM holds h
        WHERE h.hold_id = ANY(:holdIds::uuid[])
           OR (h.from_user_id = ANY(:senders::uuid[]) AND h.status = 'held' AND h.expires_at <= (SELECT db_now FROM clock))
        ORDER BY h.hold_id
        FOR UPDATE
     )
     SELECT c.db_now::text AS db_now, l.*, l.expires_at <= c.db_now AS due
       FROM clock c LEFT JOIN locked l ON true`,
    { holdIds: [...holdIds], senders: [...senders] },
  );
  const dbNow = result.rows[0]!.db_now!;
  const holds = result.rows.filter((row) => row.hold_id !== null).map((row) => ({ hold: toHoldState(row), due: row.due === true }));
  return { dbNow, holds };
}

export interface StoredOutcome {
  endpoint: string;
  key: string;
  status: number;
  body: Record<string, unknown>;
  /** 'ok' or the refusal's error code. */
  code: string;
}

export interface MoneyBatchWrite {
  /** Net change per user (balance and held), its new last sequence and the time of its last row; each user's row is updated once. */
  balanceChanges: ReadonlyArray<{ userId: string; deltaMinor: bigint; heldDeltaMinor: bigint; lastSequence: bigint; lastEntryAt: Date }>;
  /** Holds made by this batch (in their final state), and holds it resolved that existed before. */
  holds: { created: readonly HoldState[]; resolved: readonly HoldState[] };
  transfers: readonly TransferRow[];
  /** Ledger legs in the order they were applied: seq is assigned in this order. */
  legs: readonly SequencedLeg[];
  outcomes: readonly StoredOutcome[];
  /** Keys this transaction claimed for items it set aside (their users' rows were held elsewhere): given back. */
  releasedKeys: ReadonlyArray<{ endpoint: string; key: string }>;
  /** The batch's marker (money_batches): the evidence that settles a lost COMMIT reply. */
  batchId: string;
}

/** What the database holds after a batch's write, for the caller to check. */
export interface WrittenBatch {
  /** The server process and transaction id (32-bit) running the batch: to end it when settling. */
  backend: { pid: number; xid: string };
  balances: Map<string, bigint>;
}

interface WrittenRow {
  pid: number;
  xid: string;
  released: string;
  marked: string;
  transfers: string;
  holds: string;
  legs: string;
  events: string;
  stored: string;
  user_ids: string[] | null;
  balances: string[] | null;
}

/** The one statement of writeMoneyBatch: each CTE writes one table from typed column arrays. */
const WRITE_MONEY_BATCH = `WITH moved AS (
   UPDATE users u SET balance_minor = u.balance_minor + c.delta, held_minor = u.held_minor + c.held_delta,
                      last_sequence = c.last_sequence, last_entry_at = c.last_entry_at
     FROM unnest((:changeUsers)::uuid[], (:changeDeltas)::bigint[], (:changeHeldDeltas)::bigint[], (:changeSequences)::bigint[],
                 (:changeTimes)::timestamptz[])
          AS c(user_id, delta, held_delta, last_sequence, last_entry_at)
    WHERE u.user_id = c.user_id
   RETURNING u.user_id, u.balance_minor
 ), new_holds AS (
   INSERT INTO holds (hold_id, from_user_id, to_user_id, amount_minor, status, captured_amount_minor, transfer_id,
                      expires_at, created_at, resolved_at)
   SELECT * FROM unnest((:newHoldIds)::uuid[], (:newHoldFrom)::uuid[], (:newHoldTo)::uuid[], (:newHoldAmounts)::bigint[],
                        (:newHoldStatuses)::text[], (:newHoldCaptured)::bigint[], (:newHoldTransfers)::uuid[],
                        (:newHoldExpiries)::timestamptz[], (:newHoldTimes)::timestamptz[], (:newHoldResolved)::timestamptz[])
   RETURNING 1
 ), resolved_holds AS (
   UPDATE holds h SET status = r.status, captured_amount_minor = r.captured, transfer_id = r.transfer_id, resolved_at = r.resolved_at
     FROM unnest((:resolvedHoldIds)::uuid[], (:resolvedStatuses)::text[], (:resolvedCaptured)::bigint[],
                 (:resolvedTransfers)::uuid[], (:resolvedTimes)::timestamptz[])
          AS r(hold_id, status, captured, transfer_id, resolved_at)
    WHERE h.hold_id = r.hold_id AND h.status = 'held'
   RETURNING 1
 ), new_transfers AS (
   INSERT INTO transfers (transfer_id, from_user_id, to_user_id, amount_minor, created_at)
   SELECT * FROM unnest((:transferIds)::uuid[], (:transferFrom)::uuid[], (:transferTo)::uuid[],
                        (:transferAmounts)::bigint[], (:transferTimes)::timestamptz[])
   RETURNING 1
 ), new_legs AS (
   INSERT INTO transactions
     (id, user_id, type, kind, amount_minor, balance_after_minor, available_after_minor, transfer_id, hold_id,
      counterparty_user_id, created_at, sequence)
   SELECT id, user_id, type, kind, amount_minor, balance_after_minor, available_after_minor, transfer_id, hold_id,
          counterparty_user_id, created_at, sequence
     FROM unnest((:legIds)::uuid[], (:legUsers)::uuid[], (:legTypes)::text[], (:legKinds)::text[], (:legAmounts)::bigint[],
                 (:legBalances)::bigint[], (:legAvailables)::bigint[], (:legTransfers)::uuid[], (:legHolds)::uuid[],
                 (:legCounterparties)::uuid[], (:legTimes)::timestamptz[], (:legSequences)::bigint[])
          WITH ORDINALITY AS l(id, user_id, type, kind, amount_minor, balance_after_minor, available_after_minor, transfer_id,
                               hold_id, counterparty_user_id, created_at, sequence, applied_order)
    ORDER BY applied_order
   RETURNING seq
 ), new_events AS (
   INSERT INTO money_events_pending (entry_seq)
   SELECT seq FROM new_legs
   RETURNING 1
 ), stored AS (
   UPDATE idempotency_keys k SET response_status = s.status, response_body = s.body::json, outcome_code = s.code
     FROM unnest((:outcomeEndpoints)::text[], (:outcomeKeys)::text[], (:outcomeStatuses)::int[], (:outcomeBodies)::text[],
                 (:outcomeCodes)::text[])
          AS s(endpoint, idempotency_key, status, body, code)
    WHERE k.endpoint = s.endpoint AND k.idempotency_key = s.idempotency_key
   RETURNING 1
 ), released AS (
   DELETE FROM idempotency_keys k
    USING unnest((:releasedEndpoints)::text[], (:releasedKeys)::text[]) AS r(endpoint, idempotency_key)
    WHERE k.endpoint = r.endpoint AND k.idempotency_key = r.idempotency_key AND k.response_status IS NULL
   RETURNING 1
 ), marker AS (
   INSERT INTO money_batches (batch_id) VALUES ((:batchId)::uuid)
   RETURNING 1
 )
 SELECT pg_backend_pid() AS pid,
        pg_current_xact_id()::text AS xid,
        (SELECT count(*) FROM released) AS released,
        (SELECT count(*) FROM marker) AS marked,
        (SELECT count(*) FROM new_transfers) AS transfers,
        (SELECT count(*) FROM new_holds) + (SELECT count(*) FROM resolved_holds) AS holds,
        (SELECT count(*) FROM new_legs) AS legs,
        (SELECT count(*) FROM new_events) AS events,
        (SELECT count(*) FROM (SELECT pg_notify('${MONEY_EVENTS_NOTIFY_CHANNEL}', '') FROM new_events LIMIT 1) n) AS notified,
        (SELECT count(*) FROM stored) AS stored,
        (SELECT array_agg(user_id) FROM moved) AS user_ids,
        (SELECT array_agg(balance_minor::text) FROM moved) AS balances`;

/**
 * Writes a decided batch in ONE statement (one round trip, whatever the batch size): balances by
 * their net change, transfers, ledger legs (seq assigned in applied order, while the batch holds
 * the users' row locks) and the keys' stored outcomes. Foreign keys are checked at the end of the
 * statement, so ledger legs may refer to transfers inserted beside them. Row counts are checked
 * here; the balances are returned for the caller to compare with its own.
 */
export async function writeMoneyBatch(trx: Knex.Transaction, batch: MoneyBatchWrite): Promise<WrittenBatch> {
  const result = await trx.raw<{ rows: WrittenRow[] }>(
    WRITE_MONEY_BATCH,
    writeBindings(batch),
  );
  const row = result.rows[0]!;
  checkWritten(row, batch);
  const userIds = row.user_ids ?? [];
  const balances = row.balances ?? [];
  // pg_stat_activity shows the 32-bit xid; pg_current_xact_id() is the 64-bit one (epoch << 32 | xid).
  const xid = (BigInt(row.xid) & 0xffff_ffffn).toString();
  return { backend: { pid: Number(row.pid), xid }, balances: new Map(userIds.map((id, i) => [id, BigInt(balances[i]!)])) };
}

/** The batch as typed column arrays (BIGINT as decimal strings), one per placeholder of writeMoneyBatch. */
function writeBindings(batch: MoneyBatchWrite): Record<string, unknown> {
  const { balanceChanges: changes, transfers, legs, outcomes, releasedKeys } = batch;
  return {
    changeUsers: changes.map((c) => c.userId),
    changeDeltas: changes.map((c) => c.deltaMinor.toString()),
    changeHeldDeltas: changes.map((c) => c.heldDeltaMinor.toString()),
    changeSequences: changes.map((c) => c.lastSequence.toString()),
    changeTimes: changes.map((c) => c.lastEntryAt.toISOString()),
    transferIds: transfers.map((t) => t.transferId),
    transferFrom: transfers.map((t) => t.fromUserId),
    transferTo: transfers.map((t) => t.toUserId),
    transferAmounts: transfers.map((t) => t.amountMinor.toString()),
    transferTimes: transfers.map((t) => t.createdAt.toISOString()),
    legIds: legs.map((l) => l.id),
    legUsers: legs.map((l) => l.userId),
    legTypes: legs.map((l) => l.type),
    legKinds: legs.map((l) => l.kind),
    legAmounts: legs.map((l) => l.amountMinor.toString()),
    legBalances: legs.map((l) => l.balanceAfterMinor.toString()),
    legAvailables: legs.map((l) => l.availableAfterMinor.toString()),
    legTransfers: legs.map((l) => l.transferId),
    legHolds: legs.map((l) => l.holdId),
    legCounterparties: legs.map((l) => l.counterpartyUserId),
    legTimes: legs.map((l) => l.createdAt.toISOString()),
    legSequences: legs.map((l) => l.sequence.toString()),
    outcomeEndpoints: outcomes.map((o) => o.endpoint),
    outcomeKeys: outcomes.map((o) => o.key),
    outcomeStatuses: outcomes.map((o) => o.status),
    outcomeBodies: outcomes.map((o) => JSON.stringify(o.body)),
    outcomeCodes: outcomes.map((o) => o.code),
    releasedEndpoints: releasedKeys.map((k) => k.endpoint),
    releasedKeys: releasedKeys.map((k) => k.key),
    ...holdBindings(batch.holds),
    batchId: batch.batchId,
  };
}

function holdBindings({ created, resolved }: MoneyBatchWrite['holds']): Record<string, unknown> {
  const captured = (hold: HoldState) => hold.capturedAmountMinor?.toString() ?? null;
  return {
    newHoldIds: created.map((h) => h.holdId),
    newHoldFrom: created.map((h) => h.fromUserId),
    newHoldTo: created.map((h) => h.toUserId),
    newHoldAmounts: created.map((h) => h.amountMinor.toString()),
    newHoldStatuses: created.map((h) => h.status),
    newHoldCaptured: created.map(captured),
    newHoldTransfers: created.map((h) => h.transferId),
    newHoldExpiries: created.map((h) => h.expiresAt.toISOString()),
    newHoldTimes: created.map((h) => h.createdAt.toISOString()),
    newHoldResolved: created.map((h) => h.resolvedAt),
    resolvedHoldIds: resolved.map((h) => h.holdId),
    resolvedStatuses: resolved.map((h) => h.status),
    resolvedCaptured: resolved.map(captured),
    resolvedTransfers: resolved.map((h) => h.transferId),
    resolvedTimes: resolved.map((h) => h.resolvedAt),
  };
}

/** Every row the batch decided was written (and its marker): anything else aborts the batch. */
function checkWritten(row: WrittenRow, batch: MoneyBatchWrite): void {
  const { transfers, legs, outcomes, releasedKeys } = batch;
  const counts = { transfers: Number(row.transfers), legs: Number(row.legs), stored: Number(row.stored), released: Number(row.released) };
  const holds = batch.holds.created.length + batch.holds.resolved.length;
  if (
    Number(row.holds) !== holds ||
    counts.transfers !== transfers.length ||
    counts.legs !== legs.length ||
    Number(row.events) !== legs.length ||
    counts.stored !== outcomes.length ||
    counts.released !== releasedKeys.length ||
    Number(row.marked) !== 1
  ) {
    throw new Error(
      `a money batch wrote ${counts.transfers}/${transfers.length} transfers, ${row.holds}/${holds} holds, ${counts.legs}/${legs.length} ledger rows, ` +
        `${counts.stored}/${outcomes.length} stored outcomes, released ${counts.released}/${releasedKeys.length} keys`,
    );
  }
}
