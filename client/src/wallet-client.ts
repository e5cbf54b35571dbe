import { randomUUID } from 'node:crypto';
import { AutoBatcher } from './auto-batcher';
import type {
  AddMoneyRequest,
  AddMoneyResponse,
  Balance,
  BalanceResponse,
  BatchOperation,
  BatchResponse,
  BatchResult,
  CaptureRequest,
  Hold,
  HoldPage,
  HoldRequest,
  HoldResult,
  Statement,
  TransactionPage,
  TransactionServiceOperationId,
  TransferRequest,
  TransferResponse,
  User,
  UserServiceOperationId,
} from './generated/api-types';
import { createHttpTransport, type HttpExchange, type Transport } from './http-transport';
import { DEFAULT_RETRY_POLICY, isNetworkError, isRetryableStatus, parseRetryAfter, retryDelayMs, sleep, type RetryPolicy } from './retry-policy';
import { errorFromResponse, isProblem, WalletApiError } from './wallet-api-error';

export interface WalletClientOptions {
  /** Default http://localhost:3001. */
  userServiceUrl?: string;
  /** Default http://localhost:3002. */
  transactionServiceUrl?: string;
  /** How money calls and reads are retried (attempts, capped full-jitter backoff). */
  retry?: Partial<RetryPolicy>;
  /** Per attempt: no whole answer within this long counts as a network error (and is retried). Default 30 s. */
  timeoutMs?: number;
  /**
   * Automatic batching: transfer() and addMoney() calls made within one tick (up to maxOperations,
   * default 100) go out as one POST /batch; each caller still gets its own result or error. Off by default.
   */
  autoBatch?: boolean | { maxOperations?: number };
  /** Connections kept per service. Default 256. */
  maxSockets?: number;
}

export interface MoneyCallOptions {
  /** The operation's Idempotency-Key; a crypto-random one is generated when absent. Retries always reuse it. */
  idempotencyKey?: string;
}

export interface BatchCallOptions {
  /**
   * All or none, in order, in one transaction. A refused atomic batch throws WalletApiError 422
   * `atomic_batch_refused`, whose `results` say per operation why. One turned away for a passing
   * reason (queue full, a row held elsewhere) is a 503, sent again whole with its keys like any 503.
   */
  atomic?: boolean;
}

/** A batch operation whose idempotency_key may be left out: the client then generates one. */
export type BatchOperationInput = BatchOperation;

interface Answer {
  status: number;
  body: unknown;
  retryAfterSeconds: number | undefined;
}

/**
 * Each documented operation and the method that calls it (null: the operations endpoints, which are
 * for orchestrators, not clients). Typed from the generated operation ids, so an operation added to a
 * service's document (holds: hold, capture, void) fails the client's build until a method covers it.
 */
export const OPERATION_METHODS = {
  'user-service': { createUser: 'createUser', getBalance: 'userBalance', getHealth: null, getReadiness: null, getMetrics: null },
  'transaction-service': {
    addMoney: 'addMoney',
    transfer: 'transfer',
    batch: 'batch',
    placeHold: 'hold',
    captureHold: 'capture',
    voidHold: 'void',
    getHold: 'getHold',
    listHolds: 'holds',
    getBalance: 'balance',
    listTransactions: 'history',
    getStatement: 'statement',
    getHealth: null,
    getReadiness: null,
    getMetrics: null,
  },
} as const satisfies {
  'user-service': Record<UserServiceOperationId, keyof WalletClient | null>;
  'transaction-service': Record<TransactionServiceOperationId, keyof WalletClient | null>;
};

/**
 * The wallet's API as typed methods. Every money call carries an idempotency key (the caller's or a
 * generated one) and is sent again with the SAME key after a network error, a 503 (waiting at least
 * its Retry-After) or a 504, with capped full-jitter backoff and a bounded number of attempts: the
 * service replays the first outcome, so money never moves twice. Refusals throw WalletApiError.
 */
export class WalletClient {
  private readonly userUrl: string;
  private readonly txUrl: string;
  private readonly policy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly transport: Transport;
  private readonly batcher: AutoBatcher | undefined;

  constructor(options: WalletClientOptions = {}) {
    this.userUrl = (options.userServiceUrl ?? 'http://localhost:3001').replace(/\/$/, '');
    this.txUrl = (options.transactionServiceUrl ?? 'http://localhost:3002').replace(/\/$/, '');
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.transport = createHttpTransport({ maxSockets: options.maxSockets ?? 256 });
    const auto = options.autoBatch;
    this.batcher = auto ? new AutoBatcher((ops) => this.sendBatch(ops, false), (auto === true ? undefined : auto.maxOperations) ?? 100) : undefined;
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.transport.close();
  }

  // --- user-service

  /** POST /users. Not retried: a second send after a lost answer would be 409 duplicate_email. */
  async createUser(email: string): Promise<User> {
    const answer = await this.exchange({ method: 'POST', url: `${this.userUrl}/users`, json: { email } }, false);
    return expect<User>(answer, 201);
  }

  /** GET /balance?email= (asOf: RFC 3339 instant in the past). */
  async userBalance(email: string, options: { asOf?: string } = {}): Promise<Balance> {
    const query = new URLSearchParams({ email, ...(options.asOf === undefined ? {} : { as_of: options.asOf }) });
    return expect<Balance>(await this.exchange({ method: 'GET', url: `${this.userUrl}/balance?${query.toString()}` }, true), 200);
  }

  // --- transaction-service: money

  /** POST /add-money. */
  async addMoney(request: AddMoneyRequest, options: MoneyCallOptions = {}): Promise<AddMoneyResponse> {
    const key = options.idempotencyKey ?? newKey();
    if (this.batcher) return fromBatchResult<AddMoneyResponse>(await this.batcher.submit({ op: 'add-money', idempotency_key: key, ...request }), key);
    return expect<AddMoneyResponse>(await this.money('/add-money', request, key), 200, key);
  }

  /** POST /transfer. */
  async transfer(request: TransferRequest, options: MoneyCallOptions = {}): Promise<TransferResponse> {
    const key = options.idempotencyKey ?? newKey();
    if (this.batcher) return fromBatchResult<TransferResponse>(await this.batcher.submit({ op: 'transfer', idempotency_key: key, ...request }), key);
    return expect<TransferResponse>(await this.money('/transfer', request, key), 201, key);
  }

  /**
   * POST /batch: one result per operation, in order (a refusal is a result, not an exception). An
   * operation without idempotency_key gets a generated one; operations answered 503 (or 409 in
   * flight), and the whole batch after a network error, 503 or 504, are sent again with their keys.
   */
  async batch(operations: readonly BatchOperationInput[], options: BatchCallOptions = {}): Promise<BatchResult[]> {
    return this.sendBatch(operations.map((op) => ({ ...op, idempotency_key: op.idempotency_key ?? newKey() })), options.atomic ?? false);
  }

  // --- transaction-service: holds (ADR 12)

  /** POST /holds: reserve the sender's money for the receiver until captured, voided or expired. */
  async hold(request: HoldRequest, options: MoneyCallOptions = {}): Promise<HoldResult> {
    const key = options.idempotencyKey ?? newKey();
    return expect<HoldResult>(await this.money('/holds', request, key), 201, key);
  }

  /** POST /holds/{id}/capture: all of the hold, or `amount` of it (the rest is released). */
  async capture(holdId: string, request: CaptureRequest = {}, options: MoneyCallOptions = {}): Promise<HoldResult> {
    const key = options.idempotencyKey ?? newKey();
    return expect<HoldResult>(await this.money(`/holds/${encodeURIComponent(holdId)}/capture`, request, key), 200, key);
  }

  /** POST /holds/{id}/void: release the hold without moving money. */
  async void(holdId: string, options: MoneyCallOptions = {}): Promise<HoldResult> {
    const key = options.idempotencyKey ?? newKey();
    return expect<HoldResult>(await this.money(`/holds/${encodeURIComponent(holdId)}/void`, {}, key), 200, key);
  }

  /** GET /holds/{id} (status 'expired' from expires_at on). */
  async getHold(holdId: string): Promise<Hold> {
    return expect<Hold>(await this.exchange({ method: 'GET', url: `${this.txUrl}/holds/${encodeURIComponent(holdId)}` }, true), 200);
  }

  /** GET /users/{id}/holds, page after page (newest first); optionally only one status. */
  async *holds(userId: string, options: { status?: Hold['status']; limit?: number } = {}): AsyncGenerator<HoldPage, void, undefined> {
    let cursor: string | null = null;
    for (let page = 0; page === 0 || cursor !== null; page += 1) {
      const query = new URLSearchParams({ limit: String(options.limit ?? 100), ...(options.status ? { status: options.status } : {}), ...(cursor === null ? {} : { cursor }) });
      const answer: HoldPage = expect<HoldPage>(await this.exchange({ method: 'GET', url: `${this.txUrl}/users/${encodeURIComponent(userId)}/holds?${query.toString()}` }, true), 200);
      yield answer;
      cursor = answer.next_cursor;
    }
  }

  // --- transaction-service: reads

  /** GET /users/{id}/balance (asOf: the balance at a past instant, with its sequence). */
  async balance(userId: string, options: { asOf?: string } = {}): Promise<BalanceResponse> {
    const query = options.asOf === undefined ? '' : `?${new URLSearchParams({ as_of: options.asOf }).toString()}`;
    return expect<BalanceResponse>(await this.exchange({ method: 'GET', url: `${this.txUrl}/users/${encodeURIComponent(userId)}/balance${query}` }, true), 200);
  }

  /** GET /users/{id}/transactions, page after page (newest first) until the last; `limit` per page (1..100). */
  async *history(userId: string, options: { limit?: number } = {}): AsyncGenerator<TransactionPage, void, undefined> {
    let cursor: string | null = null;
    do {
      const query: URLSearchParams = new URLSearchParams({ limit: String(options.limit ?? 100), ...(cursor === null ? {} : { cursor }) });
      const url: string = `${this.txUrl}/users/${encodeURIComponent(userId)}/transactions?${query.toString()}`;
      const page: TransactionPage = expect<TransactionPage>(await this.exchange({ method: 'GET', url }, true), 200);
      yield page;
      cursor = page.next_cursor;
    } while (cursor !== null);
  }

  /** GET /users/{id}/statement: one JSON page of the period [from, to) (pass a page's next_cursor as `cursor` for the next). */
  async statement(userId: string, query: { from?: string; to?: string; limit?: number; cursor?: string }): Promise<Statement> {
    const params = new URLSearchParams(Object.entries(query).flatMap(([k, v]): Array<[string, string]> => (v === undefined ? [] : [[k, String(v)]])));
    return expect<Statement>(await this.exchange({ method: 'GET', url: `${this.txUrl}/users/${encodeURIComponent(userId)}/statement?${params.toString()}` }, true), 200);
  }

  // --- the machinery

  private money(path: string, body: AddMoneyRequest | TransferRequest | HoldRequest | CaptureRequest, key: string): Promise<Answer> {
    return this.exchange({ method: 'POST', url: `${this.txUrl}${path}`, json: body, headers: { 'Idempotency-Key': key } }, true, key);
  }

  private async sendBatch(operations: BatchOperation[], atomic: boolean): Promise<BatchResult[]> {
    const results = new Array<BatchResult | undefined>(operations.length);
    let pending = operations.map((_, index) => index);
    for (let attempt = 1; ; attempt += 1) {
      const answer = await this.exchange({ method: 'POST', url: `${this.txUrl}/batch`, json: { atomic, operations: pending.map((i) => operations[i]!) } }, true);
      // A 503 (an atomic batch turned away for now, too) was already sent again whole by exchange().
      if (answer.status !== 200) throw errorFromResponse(answer.status, answer.body, withRetryAfter(answer.retryAfterSeconds));
      const answered = (answer.body as BatchResponse).results;
      let wait: number | undefined;
      pending = pending.filter((index, position) => {
        const result = answered[position]!;
        results[index] = result;
        const again = isRetryableStatus(result.status, isProblem(result.body) ? result.body.code : undefined);
        if (again) wait = Math.max(wait ?? 0, result.retry_after ?? 0);
        return again;
      });
      // The retryable ones keep their last answer (503 with retry_after) once attempts run out.
      if (pending.length === 0 || attempt >= this.policy.maxAttempts) return results as BatchResult[];
      await sleep(retryDelayMs(this.policy, attempt, wait));
    }
  }

  /**
   * One call with its retries: `retry` only for what is safe to send twice (a keyed money call, a
   * read). Network errors, 503, 504 and 409 in flight are retried up to maxAttempts sends in all.
   */
  private async exchange(request: Omit<HttpExchange, 'timeoutMs'>, retry: boolean, key?: string): Promise<Answer> {
    for (let attempt = 1; ; attempt += 1) {
      const last = !retry || attempt >= this.policy.maxAttempts;
      let answer: Answer;
      try {
        const raw = await this.transport.send({ ...request, timeoutMs: this.timeoutMs });
        answer = { status: raw.status, body: parseBody(raw.text), retryAfterSeconds: parseRetryAfter(raw.headers['retry-after']) };
      } catch (error) {
        if (!isNetworkError(error)) throw error;
        if (last) throw new WalletApiError({ status: 0, code: 'network_error', detail: describe(error), cause: error, ...(key === undefined ? {} : { idempotencyKey: key }) });
        await sleep(retryDelayMs(this.policy, attempt, undefined));
        continue;
      }
      const code = isProblem(answer.body) ? answer.body.code : undefined;
      if (last || !isRetryableStatus(answer.status, code)) return answer;
      await sleep(retryDelayMs(this.policy, attempt, answer.retryAfterSeconds));
    }
  }
}

function newKey(): string {
  return randomUUID();
}

function withRetryAfter(seconds: number | undefined): { retryAfterSeconds?: number } {
  return seconds === undefined ? {} : { retryAfterSeconds: seconds };
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return `no answer (${typeof code === 'string' ? code : 'network error'})`;
}

/** The body of the expected success status; anything else is the WalletApiError it stands for. */
function expect<T>(answer: Answer, status: number, key?: string): T {
  if (answer.status === status) return answer.body as T;
  throw errorFromResponse(answer.status, answer.body, { ...withRetryAfter(answer.retryAfterSeconds), ...(key === undefined ? {} : { idempotencyKey: key }) });
}

/** An automatically batched call's own result, as the single endpoint would have answered it. */
function fromBatchResult<T>(result: BatchResult, key: string): T {
  if (result.status < 400) return result.body as T;
  throw errorFromResponse(result.status, result.body, { ...withRetryAfter(result.retry_after), idempotencyKey: key });
}
