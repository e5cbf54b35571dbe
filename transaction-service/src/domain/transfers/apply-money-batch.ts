import { AppError, type Knex } from '@wallet/platform';
import {
  beginMoneyTransaction,
  claimIdempotencyKeys,
  commitMoneyTransaction,
  findIdempotencyRecords,
  keyId,
  lockBalances,
  rollbackQuietly,
  writeMoneyBatch,
  type StoredIdempotencyRecord,
  type StoredOutcome,
} from '../../data-access/money-batch-repository';
import type { OperationOutcome, StoredResponse } from '../idempotency';
import { endpointOf, type KeyedCommand, type LedgerLeg, type MoneyResult, type TransferRow } from './money-command';
import { applyDecision, decide, usersOf } from './money-rules';

/** Shapes a result into the response a client sees; that exact response is what a key stores. */
export type Presenter = (result: MoneyResult) => StoredResponse;

/** Each item's own answer: a response (fresh or replayed) or a refusal that is not stored. */
export type ItemAnswer = { ok: true; outcome: OperationOutcome; result?: MoneyResult } | { ok: false; error: AppError };

/**
 * Thrown when the COMMIT's fate is unknown at first (its reply was lost). The engine settles
 * it from the commit log before answering anyone or retrying.
 */
export class CommitOutcomeUnknown extends Error {
  constructor(
    readonly xid: string,
    readonly answers: ItemAnswer[],
    options: { cause: unknown },
  ) {
    super('the COMMIT of a money batch got no reply', options);
    this.name = 'CommitOutcomeUnknown';
  }
}

/**
 * One batch = one database transaction, behaving exactly as its items would one after another
 * in arrival order:
 *  1. copies of one (endpoint, key) in the batch: the first leads, the others follow its fate;
 *  2. every key claimed in one sorted statement; keys taken before are read back and replayed;
 *  3. the users of the items that run locked in one ordered statement;
 *  4. items decided in arrival order, in memory, each with its own outcome (money-rules);
 *  5. balances, transfers, ledger legs and stored outcomes written set-based; the balances the
 *     database returns must equal the decided ones, or the batch aborts;
 *  6. COMMIT — only then is anyone answered (by the caller).
 * A business refusal never aborts the batch; any exception rolls all of it back.
 */
/** Called with the seconds each stage of a batch took, so the engine can say where time goes. */
export type StageObserver = (stage: 'begin' | 'claim' | 'lock' | 'decide' | 'write' | 'commit', seconds: number) => void;

export async function applyMoneyBatch(
  knex: Knex,
  items: readonly KeyedCommand[],
  present: Presenter,
  observe: StageObserver = () => undefined,
): Promise<ItemAnswer[]> {
  let mark = performance.now();
  const lap = (stage: Parameters<StageObserver>[0]): void => {
    const now = performance.now();
    observe(stage, (now - mark) / 1_000);
    mark = now;
  };
  const leaderOf = new Map<string, number>();
  items.forEach((item, index) => {
    if (item.key === undefined) return;
    const id = keyId(endpointOf(item.command), item.key);
    if (!leaderOf.has(id)) leaderOf.set(id, index);
  });

  const tx = await beginMoneyTransaction(knex);
  lap('begin');
  const answers: ItemAnswer[] = [];
  try {
    const claims = [...leaderOf].map(([, index]) => {
      const item = items[index]!;
      return { endpoint: endpointOf(item.command), key: item.key!, requestHash: item.fingerprint };
    });
    const claimed = await claimIdempotencyKeys(tx.trx, claims);
    const stored = await findIdempotencyRecords(
      tx.trx,
      claims.filter((c) => !claimed.has(keyId(c.endpoint, c.key))),
    );
    lap('claim');

    // The items that run: unkeyed ones, and the leaders of keys this transaction holds.
    const runs = (index: number): boolean => {
      const item = items[index]!;
      if (item.key === undefined) return true;
      const id = keyId(endpointOf(item.command), item.key);
      return leaderOf.get(id) === index && claimed.has(id);
    };
    const running = items.map((_, index) => index).filter(runs);
    const userIds = [...new Set(running.flatMap((index) => usersOf(items[index]!.command)))].sort();
    const locked = await lockBalances(tx.trx, userIds);
    const balances = new Map(locked);
    lap('lock');

    const now = new Date();
    const transfers: TransferRow[] = [];
    const legs: LedgerLeg[] = [];
    const outcomes: StoredOutcome[] = [];
    const fresh = new Map<number, { response: StoredResponse; result: MoneyResult }>();
    for (const index of running) {
      const item = items[index]!;
      const decision = decide(balances, item.command, now);
      applyDecision(balances, decision);
      const result: MoneyResult = decision.ok ? decision.result : { ok: false, error: decision.error };
      if (decision.ok) {
        legs.push(...decision.legs);
        if (decision.transfer) transfers.push(decision.transfer);
      }
      const response = present(result);
      fresh.set(index, { response, result });
      if (item.key !== undefined) outcomes.push({ endpoint: endpointOf(item.command), key: item.key, ...response });
    }

    lap('decide');
    const balanceChanges = [...balances]
      .map(([userId, after]) => ({ userId, deltaMinor: after - locked.get(userId)! }))
      .filter((c) => c.deltaMinor !== 0n);
    const written = await writeMoneyBatch(tx.trx, { balanceChanges, transfers, legs, outcomes });
    tx.xid = written.xid;
    // We hold every touched row's lock: if the database disagrees with the decided balances,
    // something is wrong below us, and the stored responses would lie. Abort.
    for (const { userId } of balanceChanges) {
      if (written.balances.get(userId) !== balances.get(userId)) {
        throw new Error(`invariant violated: balance of ${userId} after the batch`);
      }
    }

    lap('write');
    // Every item's answer, decided before COMMIT and released only after it.
    items.forEach((item, index) => {
      const own = fresh.get(index);
      if (own) {
        answers.push({ ok: true, outcome: { ...own.response, replayed: false }, result: own.result });
        return;
      }
      const id = keyId(endpointOf(item.command), item.key!);
      const leader = items[leaderOf.get(id)!]!;
      const leaderRun = fresh.get(leaderOf.get(id)!);
      const record: StoredIdempotencyRecord | undefined = leaderRun
        ? { requestHash: leader.fingerprint, responseStatus: leaderRun.response.status, responseBody: leaderRun.response.body }
        : stored.get(id);
      answers.push(replayAnswer(record, item.fingerprint));
    });
  } catch (error) {
    await rollbackQuietly(tx);
    throw error;
  }

  try {
    await commitMoneyTransaction(tx);
  } catch (error) {
    throw new CommitOutcomeUnknown(tx.xid, answers, { cause: error });
  }
  lap('commit');
  return answers;
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
  return { ok: true, outcome: { status: record.responseStatus, body: record.responseBody, replayed: true } };
}
