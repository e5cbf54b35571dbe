import Router from '@koa/router';
import type { Context } from 'koa';
import { AppError, requestBody, toClientError, toProblemResponse, validateInput, writeResponse, type Logger } from '@wallet/platform';
import { runBatch } from '../../domain/batch/run-batch';
import type { Minor } from '../../domain/money';
import type { MoneyEngine } from '../../domain/transfers/money-engine';
import type { StatementQueries } from '../../domain/statements';
import type { WalletQueries } from '../../domain/wallet-queries';
import { encodeCursor, parseHistoryQuery, parseUserId, toTransactionItem } from './history';
import { parseHoldsQuery, toHoldsPage } from './holds';
import { atomicBatchRefusal, toBatchResult } from './batch-presenter';
import { parseBatchRequest } from './batch-requests';
import { toHoldBody, toHttpResponse } from './money-presenter';
import { holdIdParam, parseAddMoneyRequest, parseCaptureRequest, parseHoldRequest, parseTransferRequest, parseVoidRequest } from './money-requests';
import { parseAsOfQuery, parseStatementQuery, statementFormat, toStatementBody, writeStatementCsv } from './statements';

export interface WalletRouterDeps {
  money: Pick<MoneyEngine, 'submit' | 'submitAtomic'>;
  queries: WalletQueries;
  /** Balances at an instant and statements (ADR 11). */
  statements: StatementQueries;
  /** Largest amount of one operation, in minor units. */
  maxAmountMinor: Minor;
  /** Operations in one POST /batch. */
  batchMaxOperations: number;
  /** Logs what a batch item failed with when it is no client's business (the error middleware's rule). */
  logger: Logger;
}

/**
 * Thin routes: read and validate the request (HTTP's job, before anything is queued), call the
 * domain, write the outcome. (GET /internal/reconcile is on the operators' listener:
 * entry-points/operator.)
 */
export function createWalletRouter(deps: WalletRouterDeps): Router {
  const { money, queries, statements, maxAmountMinor, logger } = deps;
  const router = new Router();

  router.post('/add-money', async (ctx) => {
    const request = parseAddMoneyRequest(requestBody(ctx), idempotencyKeyOf(ctx), maxAmountMinor);
    writeResponse(ctx, toHttpResponse(await money.submit(request)));
  });

  router.post('/transfer', async (ctx) => {
    const request = parseTransferRequest(requestBody(ctx), idempotencyKeyOf(ctx), maxAmountMinor);
    writeResponse(ctx, toHttpResponse(await money.submit(request)));
  });

  addHoldRoutes(router, deps);

  // Always 200 once the envelope is valid: each operation's own status is in its result (ADR 13).
  router.post('/batch', async (ctx) => {
    const request = parseBatchRequest(requestBody(ctx), { maxOperations: deps.batchMaxOperations, maxAmountMinor });
    const outcomes = await runBatch({ money }, request);
    const clientError = (error: unknown) => toClientError(error, logger, { method: ctx.method, path: ctx.path });
    const results = outcomes.map((outcome) => toBatchResult(outcome, clientError));
    const refusal = request.atomic ? atomicBatchRefusal(results) : undefined;
    if (refusal) {
      // Not applied (or not known to be): a problem as a whole, carrying every operation's result (which say why).
      const problem = toProblemResponse(refusal);
      writeResponse(ctx, { ...problem, body: { ...problem.body, results } });
      return;
    }
    ctx.body = { results };
  });

  router.get('/users/:user_id/balance', async (ctx) => {
    const userId = parseUserId(ctx.params.user_id);
    const { asOfMs } = parseAsOfQuery(ctx.query);
    ctx.body = asOfMs === undefined ? await queries.getBalance(userId) : await statements.balanceAt(userId, asOfMs);
  });

  router.get('/users/:user_id/statement', async (ctx) => {
    const userId = parseUserId(ctx.params.user_id);
    const request = parseStatementQuery(ctx.query);
    if (statementFormat(ctx) === 'csv') {
      if (request.paged) throw new AppError('validation_failed', 'A CSV statement is the whole period: limit and cursor are for the JSON pages');
      writeStatementCsv(ctx, userId, await statements.periodEntries(userId, request));
      return;
    }
    const page = await statements.statement(userId, request, { limit: request.limit, ...(request.after ? { after: request.after } : {}) });
    ctx.body = toStatementBody(page);
  });

  router.get('/users/:user_id/transactions', async (ctx) => {
    const userId = parseUserId(ctx.params.user_id);
    const page = parseHistoryQuery(ctx.query);
    const { rows, nextBeforeSeq } = await queries.listTransactions(userId, page);
    ctx.body = {
      items: rows.map(toTransactionItem),
      next_cursor: nextBeforeSeq === undefined ? null : encodeCursor(nextBeforeSeq),
    };
  });

  return router;
}

/** The holds' routes (ADR 12): place, capture, void through the engine; the reads straight from the read view. */
function addHoldRoutes(router: Router, deps: WalletRouterDeps): void {
  const { money, queries, maxAmountMinor } = deps;
  router.post('/holds', async (ctx) => {
    const request = parseHoldRequest(requestBody(ctx), idempotencyKeyOf(ctx), maxAmountMinor);
    writeResponse(ctx, toHttpResponse(await money.submit(request)));
  });

  router.post('/holds/:hold_id/capture', async (ctx) => {
    const request = parseCaptureRequest(ctx.params.hold_id, requestBody(ctx), idempotencyKeyOf(ctx), maxAmountMinor);
    writeResponse(ctx, toHttpResponse(await money.submit(request)));
  });

  router.post('/holds/:hold_id/void', async (ctx) => {
    const request = parseVoidRequest(ctx.params.hold_id, requestBody(ctx), idempotencyKeyOf(ctx));
    writeResponse(ctx, toHttpResponse(await money.submit(request)));
  });

  router.get('/holds/:hold_id', async (ctx) => {
    const { hold, shownAt } = await queries.getHold(validateInput(holdIdParam, ctx.params.hold_id));
    ctx.body = toHoldBody(hold, shownAt);
  });

  router.get('/users/:user_id/holds', async (ctx) => {
    const userId = parseUserId(ctx.params.user_id);
    ctx.body = toHoldsPage(await queries.listHolds(userId, parseHoldsQuery(ctx.query)));
  });
}

function idempotencyKeyOf(ctx: Context): string | undefined {
  const value = ctx.get('idempotency-key');
  return ctx.headers['idempotency-key'] === undefined ? undefined : value;
}
