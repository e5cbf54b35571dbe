/**
 * Load generator and books checker for transfers, shared by the acceptance tests and `make bench`.
 * It keeps an exact model of every wallet (funding + acknowledged credits - acknowledged debits)
 * in bigint cents and compares the service's books with it.
 */
import { randomUUID } from 'node:crypto';
import { type TransactionHistoryItem, type TransactionHistoryPage } from '@wallet/platform';
import { requestJson, type JsonResponse } from './api-client';
import { formatCents, parseCents } from './cents';

export interface TransferLoadOptions {
  txUrl: string | string[];
  userIds: string[];
  transfers: number;
  concurrency: number;
  /** Share (0..1) of transfers between the first two users, in both directions. */
  hotPairShare: number;
  /** Share (0..1) of transfers sent several times at once with the same Idempotency-Key. */
  duplicateShare: number;
  duplicateCopies?: number;
  /** Largest amount in cents; amounts are uniform in 1..maxAmountMinor. */
  maxAmountMinor: bigint;
  /** Share (0..1) of invalid requests mixed in (must be answered 4xx and move nothing). */
  invalidShare?: number;
  /**
   * Re-send an invalid request that got no response at all (connection refused or reset, as when
   * the service is being killed and restarted). Off by default: then no response is a violation.
   */
  retryUnansweredInvalid?: boolean;
  /** Called after each settled logical operation. */
  onProgress?: (done: number) => void;
  random?: () => number;
}

export interface LatencySample {
  ms: number;
  status: number;
  /** When the answer came (performance.now()): the bench's report bins samples into seconds of the run. */
  at: number;
}

export interface TransferLoadResult {
  /** Expected balance change per user from acknowledged transfers. */
  deltas: Map<string, bigint>;
  /** Acknowledged transfers: key -> transfer id. */
  acknowledged: Map<string, { transferId: string; from: string; to: string; amountMinor: bigint }>;
  rejectedInsufficient: number;
  statusCounts: Map<number, number>;
  samples: LatencySample[];
  /** Requests whose outcome was ambiguous (network error, 5xx) and that were retried with the same key. */
  retries: number;
  /** Violations seen while running: duplicates that disagreed, invalid requests that were accepted, ... */
  violations: string[];
  elapsedMs: number;
  /** performance.now() when the load started (the origin of the samples' `at`). */
  startedAt: number;
}

export interface Attempt {
  status: number;
  body: Record<string, unknown>;
  replayed: boolean;
}

/** One POST through the test kit's client, timed into `samples`; undefined when no answer came. */
async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string>,
  samples: LatencySample[],
): Promise<Attempt | undefined> {
  const started = performance.now();
  try {
    const response = await requestJson<unknown>(url, {
      method: 'POST',
      ...(typeof body === 'string' ? { rawBody: body } : { body }),
      headers: { 'content-type': 'application/json', ...headers },
      timeoutMs: 30_000,
    });
    const at = performance.now();
    samples.push({ ms: at - started, status: response.status, at });
    const parsed = typeof response.body === 'object' && response.body !== null ? (response.body as Record<string, unknown>) : { raw: response.text };
    return { status: response.status, body: parsed, replayed: response.headers.get('idempotent-replayed') === 'true' };
  } catch {
    const at = performance.now();
    samples.push({ ms: at - started, status: 0, at });
    return undefined;
  }
}

/**
 * Sends one request until its outcome is definitive. Ambiguous outcomes (no response, 5xx,
 * 409 in-flight) are retried with the SAME Idempotency-Key, which is what makes retrying safe.
 */
export async function sendUntilDefinitive(
  url: string,
  body: unknown,
  key: string,
  samples: LatencySample[],
  counters: { retries: number },
): Promise<Attempt> {
  for (let attempt = 0; ; attempt += 1) {
    const result = await postJson(url, body, { 'Idempotency-Key': key }, samples);
    if (result && result.status < 500 && result.status !== 409) return result;
    counters.retries += 1;
    if (attempt > 200) throw new Error(`no definitive answer for key ${key} after ${attempt} attempts`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 20 * 2 ** Math.min(attempt, 7))));
  }
}

const INVALID_BODIES: Array<(from: string, to: string) => unknown> = [
  (from, to) => ({ from_user_id: from, to_user_id: to, amount_to_transfer: '0.001' }),
  (from, to) => ({ from_user_id: from, to_user_id: to, amount_to_transfer: '-5.00' }),
  (from, to) => ({ from_user_id: from, to_user_id: to, amount_to_transfer: '1e3' }),
  (from) => ({ from_user_id: from, to_user_id: from, amount_to_transfer: '1.00' }),
  (from, to) => ({ from_user_id: from, to_user_id: to }),
  () => '{"from_user_id": ',
];

/** A load result with nothing in it yet, for these users: what a test that drives its own load fills in for checkBooks. */
export function emptyTransferLoad(users: readonly string[]): TransferLoadResult {
  return {
    deltas: new Map(users.map((u) => [u, 0n])),
    acknowledged: new Map(),
    rejectedInsufficient: 0,
    statusCounts: new Map(),
    samples: [],
    retries: 0,
    violations: [],
    elapsedMs: 0,
    startedAt: 0,
  };
}

export async function runTransferLoad(options: TransferLoadOptions): Promise<TransferLoadResult> {
  const random = options.random ?? Math.random;
  const urls = Array.isArray(options.txUrl) ? options.txUrl : [options.txUrl];
  const copies = options.duplicateCopies ?? 3;
  const users = options.userIds;
  if (users.length < 2) throw new Error('need at least two users');
  const result = emptyTransferLoad(users);
  const counters = { retries: 0 };
  const pick = (n: number): number => Math.floor(random() * n);
  let next = 0;
  let done = 0;
  const started = performance.now();
  result.startedAt = started;

  const runOne = async (index: number): Promise<void> => {
    const url = `${urls[index % urls.length]}/transfer`;
    let from: string;
    let to: string;
    if (random() < options.hotPairShare) {
      [from, to] = random() < 0.5 ? [users[0]!, users[1]!] : [users[1]!, users[0]!];
    } else {
      from = users[pick(users.length)]!;
      do to = users[pick(users.length)]!;
      while (to === from);
    }

    if (options.invalidShare && random() < options.invalidShare) {
      const body = INVALID_BODIES[pick(INVALID_BODIES.length)]!(from, to);
      const headers = { 'Idempotency-Key': randomUUID() };
      let attempt = await postJson(url, body, headers, result.samples);
      for (let retry = 0; !attempt && options.retryUnansweredInvalid && retry < 200; retry += 1) {
        counters.retries += 1;
        await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 20 * 2 ** Math.min(retry, 7))));
        attempt = await postJson(url, body, headers, result.samples);
      }
      if (!attempt || attempt.status < 400 || attempt.status >= 500) {
        result.violations.push(`invalid request ${JSON.stringify(body)} answered ${attempt?.status ?? 'no response'}`);
      }
      return;
    }

    const amountMinor = 1n + BigInt(pick(Number(options.maxAmountMinor)));
    const body = { from_user_id: from, to_user_id: to, amount_to_transfer: formatCents(amountMinor) };
    const key = randomUUID();
    const n = random() < options.duplicateShare ? copies : 1;
    const attempts = await Promise.all(
      Array.from({ length: n }, (_, copy) =>
        sendUntilDefinitive(`${urls[(index + copy) % urls.length]}/transfer`, body, key, result.samples, counters),
      ),
    );
    const first = attempts[0]!;
    for (const a of attempts) {
      result.statusCounts.set(a.status, (result.statusCounts.get(a.status) ?? 0) + 1);
      if (a.status !== first.status || JSON.stringify(a.body) !== JSON.stringify(first.body)) {
        result.violations.push(`key ${key}: copies disagree (${first.status} vs ${a.status})`);
      }
    }
    if (n > 1 && attempts.filter((a) => !a.replayed).length > 1) {
      // Several copies were answered as first executions: only possible if one ran twice.
      result.violations.push(`key ${key}: ${attempts.filter((a) => !a.replayed).length} copies were not replays`);
    }
    if (first.status === 201) {
      const transferId = String(first.body.transfer_id);
      result.acknowledged.set(key, { transferId, from, to, amountMinor });
      result.deltas.set(from, result.deltas.get(from)! - amountMinor);
      result.deltas.set(to, result.deltas.get(to)! + amountMinor);
    } else if (first.status === 422 && first.body.code === 'insufficient_funds') {
      result.rejectedInsufficient += 1;
    } else {
      result.violations.push(`key ${key}: unexpected ${first.status} ${JSON.stringify(first.body)}`);
    }
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      const index = next;
      next += 1;
      if (index >= options.transfers) return;
      await runOne(index);
      done += 1;
      options.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  result.retries = counters.retries;
  result.elapsedMs = performance.now() - started;
  return result;
}


/** Reads a user's whole history through the public API, following next_cursor. */
export async function fetchHistory(txUrl: string, userId: string): Promise<TransactionHistoryItem[]> {
  const items: TransactionHistoryItem[] = [];
  let cursor: string | null = null;
  do {
    const url: string = `${txUrl}/users/${userId}/transactions?limit=100${cursor ? `&cursor=${cursor}` : ''}`;
    const response: JsonResponse<TransactionHistoryPage> = await requestJson<TransactionHistoryPage>(url);
    if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}`);
    const page: TransactionHistoryPage = response.body;
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

export async function fetchBalance(txUrl: string, userId: string): Promise<bigint> {
  const response = await requestJson<{ balance: string }>(`${txUrl}/users/${userId}/balance`);
  if (response.status !== 200) throw new Error(`balance of ${userId} answered ${response.status}`);
  return parseCents(response.body.balance);
}

export interface BooksCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/**
 * Checks the books against the model: balances, conservation, no negatives, each key applied
 * once, and every history entry accounted for with a consistent balance_after chain.
 */
export async function checkBooks(options: {
  txUrl: string;
  funding: Map<string, bigint>;
  load: TransferLoadResult;
}): Promise<BooksCheck[]> {
  const { txUrl, funding, load } = options;
  const checks: BooksCheck[] = [];
  const users = [...funding.keys()];
  const balances = new Map<string, bigint>();
  for (const u of users) balances.set(u, await fetchBalance(txUrl, u));

  const wrong = users.filter((u) => balances.get(u) !== funding.get(u)! + (load.deltas.get(u) ?? 0n));
  checks.push({
    name: 'every balance equals the exact model',
    ok: wrong.length === 0,
    detail: wrong.length === 0 ? `${users.length} wallets` : `${wrong.length} wallets differ, e.g. ${wrong[0]}`,
  });

  const total = [...balances.values()].reduce((a, b) => a + b, 0n);
  const funded = [...funding.values()].reduce((a, b) => a + b, 0n);
  checks.push({ name: 'total is conserved', ok: total === funded, detail: `${formatCents(total)} of ${formatCents(funded)}` });

  const negative = users.filter((u) => balances.get(u)! < 0n);
  checks.push({ name: 'no balance is negative', ok: negative.length === 0, detail: `${negative.length} negative` });

  const histories = new Map<string, TransactionHistoryItem[]>();
  for (const u of users) histories.set(u, await fetchHistory(txUrl, u));

  const transferLegs = new Map<string, TransactionHistoryItem[]>();
  for (const items of histories.values()) {
    for (const item of items) {
      if (item.transfer_id) transferLegs.set(item.transfer_id, [...(transferLegs.get(item.transfer_id) ?? []), item]);
    }
  }
  const acknowledgedIds = new Set([...load.acknowledged.values()].map((a) => a.transferId));
  const unacknowledged = [...transferLegs.keys()].filter((id) => !acknowledgedIds.has(id));
  const missing = [...acknowledgedIds].filter((id) => transferLegs.get(id)?.length !== 2);
  checks.push({
    name: 'each key applied exactly once',
    ok: unacknowledged.length === 0 && missing.length === 0 && acknowledgedIds.size === load.acknowledged.size,
    detail: `${load.acknowledged.size} acknowledged, ${transferLegs.size} in the ledger, ${unacknowledged.length} unacknowledged, ${missing.length} without exactly 2 legs`,
  });

  const historyProblems: string[] = [];
  for (const u of users) {
    const items = histories.get(u)!;
    const transfersOfUser = items.filter((i) => i.kind === 'transfer').length;
    const expectedTransfers = [...load.acknowledged.values()].filter((a) => a.from === u || a.to === u).length;
    if (transfersOfUser !== expectedTransfers) historyProblems.push(`${u}: ${transfersOfUser} transfer entries, expected ${expectedTransfers}`);
    let running = 0n;
    let sequence = 0n;
    for (const item of [...items].reverse()) {
      const amount = parseCents(item.amount);
      running += item.type === 'credit' ? amount : -amount;
      sequence += 1n;
      if (running < 0n || parseCents(item.balance_after) !== running) {
        historyProblems.push(`${u}: balance_after chain breaks at ${item.id}`);
        break;
      }
      if (item.sequence !== sequence.toString()) {
        historyProblems.push(`${u}: sequence ${item.sequence} where ${sequence} was due (gap or repeat) at ${item.id}`);
        break;
      }
    }
    if (running !== balances.get(u)) historyProblems.push(`${u}: history sums to ${formatCents(running)}, balance ${formatCents(balances.get(u)!)}`);
  }
  checks.push({
    name: 'history matches the acknowledged operations, chains to the balance, sequence 1..N gapless',
    ok: historyProblems.length === 0,
    detail: historyProblems.length === 0 ? 'all histories consistent' : historyProblems.slice(0, 3).join('; '),
  });

  checks.push({
    name: 'no violation observed during the run',
    ok: load.violations.length === 0,
    detail: load.violations.length === 0 ? 'none' : `${load.violations.length}: ${load.violations.slice(0, 3).join('; ')}`,
  });
  return checks;
}

export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return 0;
  const index = Math.min(sortedMs.length - 1, Math.ceil((p / 100) * sortedMs.length) - 1);
  return sortedMs[Math.max(0, index)]!;
}
