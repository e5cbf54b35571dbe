/**
 * The bench's and the chaos drill's view of the wallet: only the public HTTP API (plus the
 * operators' GET /internal/reconcile), exactly as a client sees it.
 */
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fetchBalance, formatCents, parseCents, requestJson, sendUntilDefinitive, type BooksCheck, type LatencySample, REPO_ROOT } from '@wallet/platform/testkit';
import { errorField, sleep } from '@wallet/platform';

export interface BenchUser {
  userId: string;
  email: string;
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results keep the input order. */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await fn(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}


/**
 * POST /users until it answers 201. A network error or 5xx is retried; a 409 after such a retry
 * means the first attempt did commit but its answer was lost: the bench cannot learn that user's
 * id through the public API, so it fails loudly instead of guessing.
 */
export async function createUser(userUrl: string, email: string): Promise<BenchUser> {
  let ambiguous = false;
  for (let attempt = 0; attempt < 30; attempt += 1) {
    let status = 0;
    let body: Record<string, unknown> = {};
    try {
      const response = await requestJson(`${userUrl}/users`, { body: { email }, timeoutMs: 10_000 });
      status = response.status;
      body = typeof response.body === 'object' && response.body !== null ? response.body : {};
    } catch {
      status = 0;
    }
    if (status === 201 && typeof body.user_id === 'string') return { userId: body.user_id, email };
    if (status === 409 && ambiguous) throw new Error(`POST /users for ${email}: 409 after an unanswered attempt`);
    if (status !== 0 && status < 500) throw new Error(`POST /users for ${email} answered ${status} ${JSON.stringify(body)}`);
    ambiguous = true;
    await sleep(Math.min(2_000, 50 * 2 ** attempt));
  }
  throw new Error(`POST /users for ${email}: no answer after 30 attempts`);
}

export async function createUsers(options: {
  userUrl: string;
  count: number;
  emailPrefix: string;
  concurrency?: number;
  onCreated?: (done: number) => void;
}): Promise<BenchUser[]> {
  let done = 0;
  const indexes = Array.from({ length: options.count }, (_, i) => i);
  return mapWithConcurrency(indexes, options.concurrency ?? 10, async (i) => {
    const user = await createUser(options.userUrl, `${options.emailPrefix}-${i}@bench.example.com`);
    done += 1;
    options.onCreated?.(done);
    return user;
  });
}

/**
 * Polls GET /users/:id/balance on transaction-service until every user answers 200, i.e. its
 * user-created event went through the outbox, the relay, Kafka and the consumer.
 */
export async function waitForArrival(options: {
  txUrl: string;
  userIds: readonly string[];
  timeoutMs: number;
  onProgress?: (arrived: number) => void;
}): Promise<{ missing: string[]; elapsedMs: number }> {
  const started = performance.now();
  const missing = new Set(options.userIds);
  while (missing.size > 0 && performance.now() - started < options.timeoutMs) {
    await mapWithConcurrency([...missing], 20, async (id) => {
      try {
        const response = await requestJson<unknown>(`${options.txUrl}/users/${id}/balance`, { timeoutMs: 5_000 });
        if (response.status === 200) missing.delete(id);
      } catch {
        // the service may be restarting: ask again on the next round
      }
    });
    options.onProgress?.(options.userIds.length - missing.size);
    if (missing.size > 0) await sleep(200);
  }
  return { missing: [...missing], elapsedMs: performance.now() - started };
}

/**
 * Funds every user once through POST /add-money with an Idempotency-Key; ambiguous outcomes are
 * retried with the same key, so each wallet is credited exactly once. Returns the funding model.
 */
export async function fundUsers(options: {
  txUrl: string;
  userIds: readonly string[];
  amountMinor: bigint;
  concurrency?: number;
}): Promise<Map<string, bigint>> {
  const amount = formatCents(options.amountMinor);
  const samples: LatencySample[] = [];
  const counters = { retries: 0 };
  await mapWithConcurrency(options.userIds, options.concurrency ?? 20, async (userId) => {
    const outcome = await sendUntilDefinitive(
      `${options.txUrl}/add-money`,
      { user_id: userId, amount },
      randomUUID(),
      samples,
      counters,
    );
    if (outcome.status !== 200) throw new Error(`funding ${userId} answered ${outcome.status} ${JSON.stringify(outcome.body)}`);
  });
  return new Map(options.userIds.map((id) => [id, options.amountMinor]));
}

/** GET /balance?email= on user-service (which asks transaction-service over NATS). */
export async function fetchUserServiceBalance(
  userUrl: string,
  email: string,
  timeoutMs = 10_000,
): Promise<{ status: number; balance?: string; ms: number; hung: boolean }> {
  const started = performance.now();
  try {
    const response = await requestJson<{ balance?: unknown } | undefined>(`${userUrl}/balance?email=${encodeURIComponent(email)}`, { timeoutMs });
    const body = response.body ?? {};
    const ms = performance.now() - started;
    return typeof body.balance === 'string'
      ? { status: response.status, balance: body.balance, ms, hung: false }
      : { status: response.status, ms, hung: false };
  } catch (error) {
    const ms = performance.now() - started;
    const hung = errorField(error, 'name') === 'TimeoutError';
    return { status: 0, ms, hung };
  }
}

/** Every user's balance read through user-service (NATS) equals transaction-service's own answer. */
export async function checkUserServiceBalances(options: {
  userUrl: string;
  txUrl: string;
  users: readonly BenchUser[];
}): Promise<BooksCheck> {
  const problems: string[] = [];
  await mapWithConcurrency(options.users, 10, async (user) => {
    const [viaUserService, direct] = await Promise.all([
      fetchUserServiceBalance(options.userUrl, user.email),
      fetchBalance(options.txUrl, user.userId),
    ]);
    if (viaUserService.status !== 200 || viaUserService.balance === undefined) {
      problems.push(`${user.email}: GET /balance answered ${viaUserService.status}${viaUserService.hung ? ' (hung)' : ''}`);
    } else if (parseCents(viaUserService.balance) !== direct) {
      problems.push(`${user.email}: user-service says ${viaUserService.balance}, transaction-service ${direct} cents`);
    }
  });
  return {
    name: 'balance via user-service (NATS) equals transaction-service for every user',
    ok: problems.length === 0,
    detail: problems.length === 0 ? `${options.users.length} users` : `${problems.length} differ: ${problems.slice(0, 3).join('; ')}`,
  };
}

export interface ReconcileOutcome {
  ok: boolean;
  users_checked: number;
  transfers_checked?: number;
  mismatch_count?: number;
  mismatches: unknown[];
}

/**
 * Runs transaction-service's reconciliation: GET /internal/reconcile on its operators' listener
 * when that answers, else the `make reconcile` CLI against `databaseUrl`.
 */
export async function runReconciliation(operatorUrl: string, databaseUrl: string): Promise<{ check: BooksCheck; report?: ReconcileOutcome }> {
  let report: ReconcileOutcome | undefined;
  let via = 'GET /internal/reconcile';
  let failure = '';
  try {
    const response = await requestJson<ReconcileOutcome>(`${operatorUrl}/internal/reconcile`, { timeoutMs: 120_000 });
    if (response.status === 200) report = response.body;
    else failure = `GET /internal/reconcile answered ${response.status}`;
  } catch (error) {
    failure = `GET /internal/reconcile failed: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (!report) {
    via = 'the reconcile CLI';
    const cli = spawnSync(
      process.execPath,
      [join(REPO_ROOT, 'transaction-service', 'dist', 'src', 'entry-points', 'reconcile.js')],
      { env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl }, encoding: 'utf8', timeout: 120_000 },
    );
    try {
      report = JSON.parse(cli.stdout) as ReconcileOutcome;
    } catch {
      failure += `; the reconcile CLI exited ${cli.status}: ${cli.stderr.trim().slice(0, 300)}`;
    }
  }
  if (!report) return { check: { name: 'reconciliation finds no mismatch', ok: false, detail: failure } };
  return {
    report,
    check: {
      name: 'reconciliation finds no mismatch',
      ok: report.ok,
      detail: `${report.users_checked} users, ${report.transfers_checked ?? '?'} transfers, ${report.mismatch_count ?? report.mismatches.length} mismatches (via ${via})`,
    },
  };
}
