import { v7 as uuidv7 } from 'uuid';
import { AppError, type ErrorCode, type Knex } from '@wallet/platform';
import {
  claimIdempotencyKeys,
  findHoldParties,
  findIdempotencyRecords,
  findUsers,
  keyId,
  lockBalances,
  lockHolds,
  writeMoneyBatch,
  type LockMode,
  type StoredIdempotencyRecord,
  type StoredOutcome,
} from '../../data-access/money-batch-repository';
import {
  beginMoneyTransaction,
  commitMoneyTransaction,
  dropConnection,
  rollbackQuietly,
  type BatchBackend,
  type MoneyTransaction,
} from '../../data-access/money-transaction';
import {
  endpointOf,
  isHoldCommand,
  type AnsweredOutcome,
  type HoldState,
  type KeyedCommand,
  type MoneyResult,
  type PresentedAnswer,
  type SequencedLeg,
  type TransferRow,
} from './money-command';
import {
  applyDecision,
  decide,
  expireHold,
  usersOf,
  type Account,
  type BatchState,
  type Decision,
  type DecisionClock,
  type HoldParties,
} from './money-rules';

/** Shapes a result into the response a client sees; that exact response is what a key stores. */
export type Presenter = (result: MoneyResult) => PresentedAnswer;

/**
 * Each item's own answer: a response (fresh or replayed), a refusal that is not stored, or — only
 * when its batch skipped locked rows — set aside because a user's row was held elsewhere: nothing
 * of it happened and its key was given back, so the engine may run it again later.
 */
export type ItemAnswer =
  | { ok: true; outcome: AnsweredOutcome; code: OutcomeCode; result?: MoneyResult }
  | { ok: false; error: AppError; setAside?: true };

/** The domain's code of an outcome: 'ok', or the refusal's error code ('unknown' for a key stored before codes were kept). */
export type OutcomeCode = 'ok' | ErrorCode | 'unknown';

function codeOf(result: MoneyResult): OutcomeCode {
  return result.ok ? 'ok' : result.error.code;
}

/** What one batch did: one answer per item, in order, and which users' rows were held elsewhere. */
export interface BatchResult {
  answers: ItemAnswer[];
  /** Users whose rows another transaction held ('skip-locked' only): their items were set aside. */
  heldUsers: string[];
  /** Users whose rows this batch locked. */
  lockedUsers: string[];
}

/**
 * Thrown when the COMMIT's fate is unknown at first (its reply was lost, or the connection died
 * while it was in flight). The engine settles it from the batch's marker before answering anyone
 * or retrying (data-access/money-transaction.ts, settleBatchOutcome).
 */
export class CommitOutcomeUnknown extends Error {
  constructor(
    readonly batchId: string,
    readonly backend: BatchBackend | undefined,
    readonly result: BatchResult,
    options: { cause: unknown },
  ) {
    super('the COMMIT of a money batch got no reply', options);
    this.name = 'CommitOutcomeUnknown';
  }
}

type Stage = 'begin' | 'claim' | 'lock' | 'holds' | 'decide' | 'write' | 'commit';
/** Called with the seconds each stage of a batch took, so the engine can say where time goes. */
export type StageObserver = (stage: Stage, seconds: number) => void;

export interface BatchOptions {
  lockMode: LockMode;
  /** A COMMIT with no reply within this long is treated as lost, and settled. */
  commitTimeoutMs?: number;
  /** The statements before COMMIT must be done within this long, or the connection is dropped (and the batch re-run). */
  deadlineMs?: number;
  observe?: StageObserver;
}

/**
 * One batch = one database transaction, behaving exactly as its items would one after another
 * in arrival order. A business refusal never aborts the batch; any exception rolls all of it back;
 * nobody is answered before COMMIT (the caller releases the answers).
 */
export async function applyMoneyBatch(
  knex: Knex,
  items: readonly KeyedCommand[],
  present: Presenter,
  options: BatchOptions,
): Promise<BatchResult> {
  const lap = stageClock(options.observe);
  const leaders = leadersOfKeys(items);
  const tx = await beginMoneyTransaction(knex, uuidv7());
  lap('begin');
  let result: BatchResult;
  const deadline = dropConnectionAfter(tx, options.deadlineMs);
  try {
    const keys = await claimKeys(tx, items, leaders);
    lap('claim');
    const running = runningItems(items, leaders, keys);
    const holdParties = await readHoldParties(tx, items, running);
    const locked = await lockUsers(tx, items, running, holdParties, options.lockMode);
    const users = setAsideWholeGroups(items, leaders, keys, locked);
    lap('lock');
    const holds = await lockHoldsOfUsers(tx, items, users);
    lap('holds');
    const decided = decideInOrder({ items, users, locked: holds, present, replayRefuses: replayRefusal(items, leaders, keys) });
    lap('decide');
    await writeDecisions(tx, items, users, decided);
    lap('write');
    result = { answers: answerEveryItem(items, leaders, keys, decided, users.heldGroups), heldUsers: [...users.held], lockedUsers: [...users.accounts.keys()] };
  } catch (error) {
    await rollbackQuietly(tx);
    throw error;
  } finally {
    clearTimeout(deadline);
  }
  await commitOrUnknown(tx, result, options.commitTimeoutMs);
  lap('commit');
  return result;
}

/**
 * A statement whose reply never comes (a half-open connection) would hold the batch slot for ever:
 * no server-side timeout can answer it. Past the deadline the socket is dropped; the statement then
 * fails as a lost connection and the batch re-runs, which is safe because COMMIT was not sent.
 */
function dropConnectionAfter(tx: MoneyTransaction, deadlineMs: number | undefined): NodeJS.Timeout | undefined {
  return deadlineMs === undefined ? undefined : setTimeout(() => dropConnection(tx), deadlineMs);
}

function stageClock(observe: StageObserver = () => undefined): (stage: Stage) => void {
  let mark = performance.now();
  return (stage) => {
    const now = performance.now();
    observe(stage, (now - mark) / 1_000);
    mark = now;
  };
}

/** Copies of one (endpoint, key) in a batch: the first is the leader, the others follow its fate. */
function leadersOfKeys(items: readonly KeyedCommand[]): Map<string, number> {
  const leaders = new Map<string, number>();
  items.forEach((item, index) => {
    if (item.key === undefined) return;
    const id = keyId(endpointOf(item.command), item.key);
    if (!leaders.has(id)) leaders.set(id, index);
  });
  return leaders;
}

interface KeyState {
  /** Keys this transaction now holds (keyId). */
  claimed: Set<string>;
  /** The stored records of keys taken before, to replay. */
  stored: Map<string, StoredIdempotencyRecord>;
}

/** Claims every leader's key in one sorted statement and reads back the ones already taken. */
async function claimKeys(tx: MoneyTransaction, items: readonly KeyedCommand[], leaders: Map<string, number>): Promise<KeyState> {
  const claims = [...leaders.values()].map((index) => {
    const item = items[index]!;
    return { endpoint: endpointOf(item.command), key: item.key!, requestHash: item.fingerprint };
  });
  const claimed = await claimIdempotencyKeys(tx.trx, claims);
  const taken = claims.filter((c) => !claimed.has(keyId(c.endpoint, c.key)));
  return { claimed, stored: await findIdempotencyRecords(tx.trx, taken) };
}

/** The items that run: unkeyed ones, and the leaders of keys this transaction holds. */
function runningItems(items: readonly KeyedCommand[], leaders: Map<string, number>, keys: KeyState): number[] {
  return items
    .map((_, index) => index)
    .filter((index) => {
      const item = items[index]!;
      if (item.key === undefined) return true;
      const id = keyId(endpointOf(item.command), item.key);
      return leaders.get(id) === index && keys.claimed.has(id);
    });
}

/** The two users of every hold a running capture or void names, read before any lock (they never change). */
async function readHoldParties(tx: MoneyTransaction, items: readonly KeyedCommand[], running: number[]): Promise<HoldParties> {
  const holdIds = running.flatMap((index) => {
    const { command } = items[index]!;
    return isHoldCommand(command) ? [command.holdId] : [];
  });
  return findHoldParties(tx.trx, [...new Set(holdIds)]);
}

interface LockedUsers {
  /** Balances and held amounts of the locked users, as read under the lock. */
  accounts: Map<string, Account>;
  /** Their last ledger sequence numbers, as read under the lock. */
  sequences: Map<string, bigint>;
  /** The latest time of their last ledger rows, as read under the lock (undefined: none has a row). */
  lastEntryAt: Date | undefined;
  /** Users that exist but whose rows another transaction holds ('skip-locked' only). */
  held: Set<string>;
  /** Atomic batches set aside whole because one of their operations touches a held row. */
  heldGroups: Set<string>;
  /** The running items, less those set aside because they touch a held user. */
  running: number[];
  setAside: number[];
}

/** Locks the running items' users in user_id order; with 'skip-locked', sets aside items on held rows. */
async function lockUsers(
  tx: MoneyTransaction,
  items: readonly KeyedCommand[],
  running: number[],
  parties: HoldParties,
  mode: LockMode,
): Promise<LockedUsers> {
  const usersOfItem = (index: number) => usersOf(items[index]!.command, parties);
  const userIds = [...new Set(running.flatMap(usersOfItem))].sort();
  const locked = await lockBalances(tx.trx, userIds, mode);
  const accounts = new Map([...locked].map(([id, row]) => [id, { balance: row.balanceMinor, held: row.heldMinor }]));
  const sequences = new Map([...locked].map(([id, row]) => [id, row.lastSequence]));
  const times = [...locked.values()].flatMap((row) => (row.lastEntryAt ? [row.lastEntryAt.getTime()] : []));
  const lastEntryAt = times.length === 0 ? undefined : new Date(Math.max(...times));
  const missing = userIds.filter((id) => !accounts.has(id));
  const held = mode === 'skip-locked' ? await findUsers(tx.trx, missing) : new Set<string>();
  const onHeldRow = (index: number) => usersOfItem(index).some((id) => held.has(id));
  // An atomic batch is set aside whole when any of its operations is (ADR 13): never in part.
  const heldGroups = new Set(running.filter(onHeldRow).flatMap((index) => items[index]!.group ?? []));
  const touchesHeld = (index: number) => onHeldRow(index) || heldGroups.has(items[index]!.group ?? '');
  return {
    accounts,
    sequences,
    lastEntryAt,
    held,
    heldGroups,
    running: running.filter((i) => !touchesHeld(i)),
    setAside: running.filter(touchesHeld),
  };
}

/**
 * An atomic batch is set aside whole, never in part (ADR 13): also when one of its items is a copy
 * of a key whose first use in this batch was set aside (the copy would be answered "set aside" and
 * re-run alone). Setting a group aside can set aside the first use of another group's key, so this
 * runs until nothing changes (at most once per group).
 */
function setAsideWholeGroups(items: readonly KeyedCommand[], leaders: Map<string, number>, keys: KeyState, users: LockedUsers): LockedUsers {
  const groups = new Set(items.flatMap((item) => item.group ?? []));
  const running = new Set(users.running);
  const setAside = new Set(users.setAside);
  const followsSetAside = (item: KeyedCommand) => {
    if (item.key === undefined) return false;
    const id = keyId(endpointOf(item.command), item.key);
    return keys.claimed.has(id) && setAside.has(leaders.get(id)!);
  };
  for (let round = 0; round <= groups.size; round += 1) {
    const newlyHeld = [...groups].filter(
      (group) => !users.heldGroups.has(group) && items.some((item, index) => item.group === group && !running.has(index) && followsSetAside(item)),
    );
    if (newlyHeld.length === 0) break;
    for (const group of newlyHeld) users.heldGroups.add(group);
    for (const index of [...running]) {
      if (!users.heldGroups.has(items[index]!.group ?? '')) continue;
      running.delete(index);
      setAside.add(index);
    }
  }
  const inOrder = (set: Set<number>) => [...set].sort((a, b) => a - b);
  return { ...users, running: inOrder(running), setAside: inOrder(setAside) };
}

/** The holds a batch decides on, read under their senders' locks, and the database's clock read after those locks. */
interface LockedHolds {
  dbNow: string | undefined;
  holds: Map<string, HoldState>;
  /** Held, and at or past expires_at by dbNow: released before anything is decided. */
  due: HoldState[];
}

/**
 * Reads (FOR UPDATE) the holds the running items name and the expired ones of every locked user
 * who holds money, with the database's clock. Every change of a hold also changes its sender's
 * row, whose lock this batch holds, so nothing can change them until COMMIT. Skipped when the
 * batch has no hold operation and none of its users holds money: plain transfers pay nothing.
 */
async function lockHoldsOfUsers(tx: MoneyTransaction, items: readonly KeyedCommand[], users: LockedUsers): Promise<LockedHolds> {
  const commands = users.running.map((index) => items[index]!.command);
  const holdIds = commands.flatMap((command) => (isHoldCommand(command) ? [command.holdId] : []));
  const holders = [...users.accounts].filter(([, account]) => account.held > 0n).map(([id]) => id);
  const resolving = holdIds.length > 0 || commands.some((command) => command.op === 'release-expired');
  if (!resolving && holders.length === 0) return { dbNow: undefined, holds: new Map(), due: [] };
  const read = await lockHolds(tx.trx, [...new Set(holdIds)], holders);
  const locked = (hold: HoldState) => users.accounts.has(hold.fromUserId);
  const holds = new Map(read.holds.filter((row) => locked(row.hold)).map((row) => [row.hold.holdId, row.hold]));
  const due = read.holds.filter((row) => row.due && row.hold.status === 'held' && locked(row.hold)).map((row) => row.hold);
  return { dbNow: read.dbNow, holds, due };
}

interface DecidedBatch {
  transfers: TransferRow[];
  legs: SequencedLeg[];
  outcomes: StoredOutcome[];
  /** The running items' own responses, by item index. */
  fresh: Map<number, { response: PresentedAnswer; result: MoneyResult }>;
  /** Accounts and holds after every decided item. */
  state: BatchState;
  /** Holds made or resolved by this batch, in their final state. */
  holdChanges: Map<string, HoldState>;
  /** Holds that existed before this batch (resolved ones are updated; the others are new). */
  holdsRead: Set<string>;
  /** Last sequence numbers after every decided item. */
  lastSequences: Map<string, bigint>;
  /** The one time of every row of this batch (ledgerClock). */
  now: Date;
}

/**
 * The time of a batch's rows, read only once its users' row locks are held (ADR 11): a reader of
 * a past instant waits for those locks, so any row it cannot see yet gets a later time than the
 * instant it asked about (the rows' times are taken after the lock, the reader's instant before
 * it). Never earlier than any locked user's last row: along a user's sequence, times never go
 * back, even when another process's clock ran ahead.
 */
function ledgerClock(users: LockedUsers): Date {
  const now = Date.now();
  return new Date(users.lastEntryAt === undefined ? now : Math.max(now, users.lastEntryAt.getTime()));
}

interface DecideInput {
  items: readonly KeyedCommand[];
  users: LockedUsers;
  locked: LockedHolds;
  present: Presenter;
  /** Whether an item that does not run here (a replay of its key) would answer a refusal. */
  replayRefuses: (index: number, decided: DecidedBatch) => boolean;
}

/**
 * Decides in memory, each with its own outcome (money-rules): first the releases of expired holds
 * (by the database's clock, whether or not a sweeper got to them), then the running items in
 * arrival order; an atomic batch's items as one unit (decideGroup).
 */
function decideInOrder(input: DecideInput): DecidedBatch {
  const { items, users, locked } = input;
  const clock: DecisionClock = { now: ledgerClock(users), dbNow: locked.dbNow };
  const state: BatchState = { accounts: new Map(users.accounts), holds: new Map(locked.holds) };
  const decided: DecidedBatch = {
    transfers: [],
    legs: [],
    outcomes: [],
    fresh: new Map(),
    state,
    lastSequences: new Map(users.sequences),
    now: clock.now,
    holdChanges: new Map(),
    holdsRead: new Set(locked.holds.keys()),
  };
  for (const hold of locked.due) record(decided, expireHold(state, hold, clock));
  const groupsDone = new Set<string>();
  for (const index of users.running) {
    const group = items[index]!.group;
    if (group === undefined) {
      const decision = decide(state, items[index]!.command, clock);
      record(decided, decision);
      answerFresh(input, decided, index, decision.ok ? decision.result : { ok: false, error: decision.error });
    } else if (!groupsDone.has(group)) {
      groupsDone.add(group);
      decideGroup(input, decided, group, clock);
    }
  }
  return decided;
}

/** An item decided here: its response (what its key stores) and its result. */
function answerFresh(input: DecideInput, decided: DecidedBatch, index: number, result: MoneyResult): void {
  const item = input.items[index]!;
  const response = input.present(result);
  decided.fresh.set(index, { response, result });
  if (item.key !== undefined) decided.outcomes.push({ endpoint: endpointOf(item.command), key: item.key, ...response, code: codeOf(result) });
}

/**
 * An atomic batch (ADR 13): its items are decided in order on a copy of the state, each seeing the
 * ones before. All accepted (and none of its replays a refusal): they are applied. Otherwise none
 * is: a refused item answers its own refusal, every other one 422 linked_operation_failed, and
 * their keys store exactly that, so a retry replays it.
 */
function decideGroup(input: DecideInput, decided: DecidedBatch, group: string, clock: DecisionClock): void {
  const members = input.items.flatMap((item, index) => (item.group === group ? [index] : []));
  const running = new Set(input.users.running);
  const trial: BatchState = { accounts: new Map(decided.state.accounts), holds: new Map(decided.state.holds) };
  const tried = members.filter((index) => running.has(index)).map((index) => {
    const decision = decide(trial, input.items[index]!.command, clock);
    applyDecision(trial, decision);
    return { index, decision };
  });
  const refusedReplay = members.some((index) => !running.has(index) && input.replayRefuses(index, decided));
  const applied = !refusedReplay && tried.every(({ decision }) => decision.ok);
  for (const { index, decision } of tried) {
    if (applied) record(decided, decision);
    const result: MoneyResult = decision.ok
      ? applied
        ? decision.result
        : { ok: false, error: new AppError('linked_operation_failed', 'Not applied: another operation of this atomic batch was refused') }
      : { ok: false, error: decision.error };
    answerFresh(input, decided, index, result);
  }
}

/**
 * For an atomic batch's item that does not run in this batch: would its answer be a refusal? A
 * copy of a key whose first use runs in this batch follows that one's fate, unless its request
 * differs; a key used before replays its stored outcome.
 */
function replayRefusal(items: readonly KeyedCommand[], leaders: Map<string, number>, keys: KeyState) {
  return (index: number, decided: DecidedBatch): boolean => {
    const item = items[index]!;
    if (item.key === undefined) return false;
    const id = keyId(endpointOf(item.command), item.key);
    const leaderIndex = leaders.get(id)!;
    if (keys.claimed.has(id)) {
      const leaderRun = decided.fresh.get(leaderIndex);
      return items[leaderIndex]!.fingerprint !== item.fingerprint || (leaderRun !== undefined && codeOf(leaderRun.result) !== 'ok');
    }
    const stored = keys.stored.get(id);
    if (stored?.responseStatus === null || stored?.responseStatus === undefined || stored.requestHash !== item.fingerprint) return true;
    // A key stored before outcome codes were kept (migration 004) has only its response to tell.
    return stored.outcomeCode === null ? stored.responseStatus >= 400 : stored.outcomeCode !== 'ok';
  };
}

/** Applies an accepted decision to the batch's state and keeps what it writes. */
function record(decided: DecidedBatch, decision: Decision): void {
  applyDecision(decided.state, decision);
  if (!decision.ok) return;
  // Each leg takes its user's next number, in applied order, as balance_after chains.
  for (const leg of decision.legs) {
    const sequence = decided.lastSequences.get(leg.userId)! + 1n;
    decided.lastSequences.set(leg.userId, sequence);
    decided.legs.push({ ...leg, sequence });
  }
  if (decision.transfer) decided.transfers.push(decision.transfer);
  if (decision.hold) decided.holdChanges.set(decision.hold.holdId, decision.hold);
}

/**
 * Writes balances, transfers, ledger legs, stored outcomes, the given-back keys and the batch's
 * marker in one statement. We hold every touched row's lock: if the database disagrees with the
 * decided balances, something below us is wrong and the stored responses would lie. Abort.
 */
async function writeDecisions(tx: MoneyTransaction, items: readonly KeyedCommand[], users: LockedUsers, decided: DecidedBatch): Promise<void> {
  // A user whose sequence moved is written even when its net change is zero (A->B 5 then B->A 5).
  const balanceChanges = [...decided.state.accounts]
    .map(([userId, after]) => ({
      userId,
      deltaMinor: after.balance - users.accounts.get(userId)!.balance,
      heldDeltaMinor: after.held - users.accounts.get(userId)!.held,
      lastSequence: decided.lastSequences.get(userId)!,
      lastEntryAt: decided.now,
    }))
    .filter((c) => c.lastSequence !== users.sequences.get(c.userId));
  const changedHolds = [...decided.holdChanges.values()];
  const holds = {
    created: changedHolds.filter((hold) => !decided.holdsRead.has(hold.holdId)),
    resolved: changedHolds.filter((hold) => decided.holdsRead.has(hold.holdId)),
  };
  const releasedKeys = users.setAside
    .map((index) => items[index]!)
    .filter((item) => item.key !== undefined)
    .map((item) => ({ endpoint: endpointOf(item.command), key: item.key! }));
  const written = await writeMoneyBatch(tx.trx, { ...decided, balanceChanges, holds, releasedKeys, batchId: tx.batchId });
  tx.backend = written.backend;
  for (const { userId } of balanceChanges) {
    if (written.balances.get(userId) !== decided.state.accounts.get(userId)!.balance) {
      throw new Error(`invariant violated: balance of ${userId} after the batch`);
    }
  }
}

/** Every item's answer, decided before COMMIT and released only after it. */
function answerEveryItem(
  items: readonly KeyedCommand[],
  leaders: Map<string, number>,
  keys: KeyState,
  decided: DecidedBatch,
  heldGroups: ReadonlySet<string>,
): ItemAnswer[] {
  return items.map((item, index) => {
    const own = decided.fresh.get(index);
    if (own) return { ok: true, outcome: { ...own.response, replayed: false }, code: codeOf(own.result), result: own.result };
    if (item.key === undefined || heldGroups.has(item.group ?? '')) return setAsideAnswer();
    const id = keyId(endpointOf(item.command), item.key);
    const leaderIndex = leaders.get(id)!;
    const leaderRun = decided.fresh.get(leaderIndex);
    if (leaderRun) {
      const record = {
        requestHash: items[leaderIndex]!.fingerprint,
        responseStatus: leaderRun.response.status,
        responseBody: leaderRun.response.body,
        outcomeCode: codeOf(leaderRun.result),
      };
      return replayAnswer(record, item.fingerprint);
    }
    // The leader held the key but was set aside (so is this copy), or the key was taken before.
    return keys.claimed.has(id) ? setAsideAnswer() : replayAnswer(keys.stored.get(id), item.fingerprint);
  });
}

function setAsideAnswer(): ItemAnswer {
  return {
    ok: false,
    setAside: true,
    error: new AppError('service_unavailable', "A user's balance is locked by another operation; retry shortly (with the same Idempotency-Key)"),
  };
}

async function commitOrUnknown(tx: MoneyTransaction, result: BatchResult, timeoutMs: number | undefined): Promise<void> {
  try {
    await commitMoneyTransaction(tx, timeoutMs);
  } catch (error) {
    throw new CommitOutcomeUnknown(tx.batchId, tx.backend, result, { cause: error });
  }
}

function replayAnswer(record: StoredIdempotencyRecord | undefined, fingerprint: string): ItemAnswer {
  if (!record || record.responseStatus === null || record.responseBody === null) {
    // Taken and committed without an outcome cannot happen (both are written in one
    // transaction); a key purged between our claim and our read looks like this: retry.
    return { ok: false, error: new AppError('idempotency_request_in_flight', 'Retry this request shortly') };
  }
  if (record.requestHash !== fingerprint) {
    return {
      ok: false,
      error: new AppError('idempotency_key_reused', 'This Idempotency-Key was used with a different request'),
    };
  }
  const code = (record.outcomeCode ?? 'unknown') as OutcomeCode;
  return { ok: true, outcome: { status: record.responseStatus, body: record.responseBody, replayed: true }, code };
}
