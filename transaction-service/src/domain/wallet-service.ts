import Joi from 'joi';
import { v7 as uuidv7 } from 'uuid';
import {
  AppError,
  isAppError,
  promClient,
  runInTransaction,
  uuidSchema,
  toProblem,
  validateInput,
  type Knex,
  type Logger,
  type MetricsRegistry,
  type TransactionHistoryItem,
  type TransactionHistoryPage,
} from '@wallet/platform';
import {
  applyCredit,
  applyTransfer,
  findBalance,
  listLedgerPage,
  lockUsersInOrder,
  type LedgerRow,
} from '../data-access/wallet-repository';
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  findIdempotencyRecord,
} from '../data-access/idempotency-repository';
import { fingerprintRequest, parseIdempotencyKey, type IdempotentEndpoint, type OperationOutcome } from './idempotency';
import { formatMinor, MAX_BALANCE_MINOR, parseAmount, type Minor } from './money';

const addMoneySchema = Joi.object<{ user_id: string; amount: unknown }>({
  user_id: uuidSchema().required(),
  amount: Joi.any().required(),
});

const transferSchema = Joi.object<{ from_user_id: string; to_user_id: string; amount_to_transfer: unknown }>({
  from_user_id: uuidSchema().required(),
  to_user_id: uuidSchema().required(),
  amount_to_transfer: Joi.any().required(),
});

const userIdParam = uuidSchema().required().label('user_id');

const historyQuerySchema = Joi.object<{ limit: number; cursor?: string }>({
  limit: Joi.number().integer().min(1).max(100).default(20),
  cursor: Joi.string()
    .max(64)
    .pattern(/^[A-Za-z0-9_-]+$/)
    .messages({ 'string.pattern.base': 'cursor is not valid: pass back a next_cursor value' }),
});

/** An operation's outcome; `stored` when the operation already wrote it to its idempotency key. */
type ExecutedOutcome = Omit<OperationOutcome, 'replayed'> & { stored?: boolean };

export interface WalletServiceOptions {
  maxAmountMinor: Minor;
  logger: Logger;
  metrics: MetricsRegistry;
}

/**
 * The wallet's use cases. Every balance change happens inside one database transaction that
 * holds the affected users' row locks; with an Idempotency-Key, the key's record is written in
 * that same transaction, so a crash can never leave money moved without its key or the reverse.
 */
export class WalletService {
  private readonly operations: promClient.Counter<'operation' | 'outcome'>;
  private readonly replays: promClient.Counter<'operation'>;

  constructor(
    private readonly knex: Knex,
    private readonly options: WalletServiceOptions,
  ) {
    this.operations = new promClient.Counter({
      name: 'wallet_operations_total',
      help: 'Money operations by outcome (ok or the error code)',
      labelNames: ['operation', 'outcome'] as const,
      registers: [options.metrics],
    });
    this.replays = new promClient.Counter({
      name: 'wallet_idempotent_replays_total',
      help: 'Requests answered from a stored idempotent outcome',
      labelNames: ['operation'] as const,
      registers: [options.metrics],
    });
  }

  async addMoney(body: unknown, idempotencyKeyHeader: string | undefined): Promise<OperationOutcome> {
    return this.measure('add-money', async () => {
      const key = parseIdempotencyKey(idempotencyKeyHeader);
      const input = validateInput(addMoneySchema, body);
      const amountMinor = parseAmount(input.amount, { maxMinor: this.options.maxAmountMinor }, 'amount');
      const fingerprint = fingerprintRequest('add-money', { user_id: input.user_id, amount: amountMinor.toString() });

      return this.executeOnce('add-money', key, fingerprint, async (trx) => {
        const transactionId = uuidv7();
        const credit = { transactionId, userId: input.user_id, amountMinor, maxBalanceMinor: MAX_BALANCE_MINOR };
        let credited = await applyCredit(trx, credit);
        if (!credited) {
          // No row was updated: unknown user, or the limit. Decide under the row lock, not from a
          // fresh read: the user may have arrived (user-created) since the UPDATE's snapshot, and a
          // stored outcome must not blame the limit for that.
          const [user] = await lockUsersInOrder(trx, [input.user_id]);
          if (!user) throw new AppError('user_not_found', `No user ${input.user_id}`);
          if (user.balanceMinor > MAX_BALANCE_MINOR - amountMinor) {
            throw new AppError('balance_limit_exceeded', 'This credit would take the balance past its limit');
          }
          credited = await applyCredit(trx, credit);
          assertInvariant(credited !== undefined, 'a credit within the limit applies to a locked user');
        }
        return {
          status: 200,
          body: {
            user_id: input.user_id,
            transaction_id: transactionId,
            amount: formatMinor(amountMinor),
            updated_balance: formatMinor(credited.balanceAfterMinor),
          },
        };
      });
    });
  }

  async transfer(body: unknown, idempotencyKeyHeader: string | undefined): Promise<OperationOutcome> {
    return this.measure('transfer', async () => {
      const key = parseIdempotencyKey(idempotencyKeyHeader);
      const input = validateInput(transferSchema, body);
      const amountMinor = parseAmount(
        input.amount_to_transfer,
        { maxMinor: this.options.maxAmountMinor },
        'amount_to_transfer',
      );
      const from = input.from_user_id;
      const to = input.to_user_id;
      if (from === to) throw new AppError('self_transfer', 'from_user_id and to_user_id must differ');
      const fingerprint = fingerprintRequest('transfer', { from, to, amount: amountMinor.toString() });

      return this.executeOnce('transfer', key, fingerprint, async (trx, idempotency) => {
        const locked = await lockUsersInOrder(trx, [from, to]);
        const sender = locked.find((u) => u.userId === from);
        const receiver = locked.find((u) => u.userId === to);
        if (!sender) throw new AppError('user_not_found', `No sender ${from}`);
        if (!receiver) throw new AppError('user_not_found', `No receiver ${to}`);
        if (sender.balanceMinor < amountMinor) {
          throw new AppError('insufficient_funds', `The sender's balance is ${formatMinor(sender.balanceMinor)}`);
        }
        if (receiver.balanceMinor > MAX_BALANCE_MINOR - amountMinor) {
          throw new AppError('balance_limit_exceeded', "This transfer would take the receiver's balance past its limit");
        }

        // With both rows locked the new balances are known before the write, so the response
        // (and the idempotency record holding it) is written by the same statement that moves the money.
        const senderAfter = sender.balanceMinor - amountMinor;
        const receiverAfter = receiver.balanceMinor + amountMinor;
        const transferId = uuidv7();
        const createdAt = new Date();
        const outcome = {
          status: 201,
          body: {
            transfer_id: transferId,
            from_user_id: from,
            to_user_id: to,
            amount: formatMinor(amountMinor),
            updated_balance: formatMinor(senderAfter),
            created_at: createdAt.toISOString(),
          },
        };
        const applied = await applyTransfer(
          trx,
          { transferId, fromUserId: from, toUserId: to, amountMinor, debitId: uuidv7(), creditId: uuidv7(), createdAt },
          idempotency ? { ...idempotency, ...outcome } : undefined,
        );
        // We hold both row locks, so nothing else can have moved these balances in between; if the
        // database disagrees, abort: the stored response would be wrong.
        assertInvariant(applied.senderBalanceMinor === senderAfter, 'sender balance after debit');
        assertInvariant(applied.receiverBalanceMinor === receiverAfter, 'receiver balance after credit');
        return { ...outcome, stored: idempotency !== undefined };
      });
    });
  }

  async getBalance(rawUserId: unknown): Promise<{ user_id: string; balance: string }> {
    const id = validateInput(userIdParam, rawUserId);
    const balance = await this.findBalance(id);
    if (balance === undefined) throw new AppError('user_not_found', `No user ${id}`);
    return { user_id: id, balance };
  }

  /** The balance as a decimal string, or undefined when the user has not arrived here (yet). */
  async findBalance(id: string): Promise<string | undefined> {
    const minor = await findBalance(this.knex, id);
    return minor === undefined ? undefined : formatMinor(minor);
  }

  async listTransactions(
    rawUserId: unknown,
    rawQuery: unknown,
  ): Promise<TransactionHistoryPage> {
    const id = validateInput(userIdParam, rawUserId);
    const query = validateInput(historyQuerySchema, rawQuery);
    const beforeSeq = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    if ((await findBalance(this.knex, id)) === undefined) throw new AppError('user_not_found', `No user ${id}`);

    const rows = await listLedgerPage(this.knex, id, { limit: query.limit + 1, ...(beforeSeq !== undefined ? { beforeSeq } : {}) });
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      items: page.map(toTransactionItem),
      next_cursor: rows.length > query.limit && last ? encodeCursor(BigInt(last.seq)) : null,
    };
  }

  /**
   * Runs `operation` at most once per (endpoint, key). With a key, the claim, the money movement
   * and the stored outcome commit together; a business error (404, 422) is stored too, so a retry
   * can never flip the outcome. Without a key, every call is a new operation.
   */
  private async executeOnce(
    endpoint: IdempotentEndpoint,
    key: string | undefined,
    fingerprint: string,
    operation: (
      trx: Knex.Transaction,
      idempotency: { endpoint: IdempotentEndpoint; key: string } | undefined,
    ) => Promise<ExecutedOutcome>,
  ): Promise<OperationOutcome> {
    return runInTransaction(
      this.knex,
      async (trx) => {
        if (key !== undefined) {
          const claimed = await claimIdempotencyKey(trx, { endpoint, key, requestHash: fingerprint });
          if (!claimed) return this.replay(trx, endpoint, key, fingerprint);
        }
        let outcome: ExecutedOutcome;
        try {
          outcome = await operation(trx, key === undefined ? undefined : { endpoint, key });
        } catch (error) {
          // Business errors are raised before any write in this transaction, so it can still commit.
          if (key === undefined || !isAppError(error)) throw error;
          outcome = { status: error.status, body: { ...toProblem(error) } };
        }
        if (key !== undefined && !outcome.stored) {
          await completeIdempotencyKey(trx, { endpoint, key, status: outcome.status, body: outcome.body });
        }
        return { status: outcome.status, body: outcome.body, replayed: false };
      },
      { logger: this.options.logger },
    );
  }

  private async replay(
    trx: Knex.Transaction,
    endpoint: IdempotentEndpoint,
    key: string,
    fingerprint: string,
  ): Promise<OperationOutcome> {
    const stored = await findIdempotencyRecord(trx, endpoint, key);
    if (!stored || stored.responseStatus === null || stored.responseBody === null) {
      throw new AppError('idempotency_request_in_flight', 'Retry this request shortly');
    }
    if (stored.requestHash !== fingerprint) {
      throw new AppError('idempotency_key_reused', 'This Idempotency-Key was used with a different request');
    }
    this.replays.inc({ operation: endpoint });
    return { status: stored.responseStatus, body: stored.responseBody, replayed: true };
  }

  private async measure(operation: IdempotentEndpoint, run: () => Promise<OperationOutcome>): Promise<OperationOutcome> {
    try {
      const outcome = await run();
      const code = outcome.status >= 400 ? String(outcome.body.code) : 'ok';
      this.operations.inc({ operation, outcome: outcome.replayed ? `replayed_${code}` : code });
      return outcome;
    } catch (error) {
      this.operations.inc({ operation, outcome: isAppError(error) ? error.code : 'internal_error' });
      throw error;
    }
  }
}

function toTransactionItem(row: LedgerRow): TransactionHistoryItem {
  return {
    id: row.id,
    user_id: row.user_id,
    type: row.type,
    kind: row.kind,
    amount: formatMinor(row.amount_minor),
    balance_after: formatMinor(row.balance_after_minor),
    transfer_id: row.transfer_id,
    counterparty_user_id: row.counterparty_user_id,
    created_at: row.created_at.toISOString(),
  };
}

function encodeCursor(seq: bigint): string {
  return Buffer.from(`seq:${seq}`).toString('base64url');
}

/** transactions.seq is a BIGINT: a larger cursor would make PostgreSQL fail the query (a 500, not a 400). */
const MAX_SEQ = 9_223_372_036_854_775_807n;

function decodeCursor(cursor: string): bigint {
  const match = /^seq:(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  const seq = match?.[1] === undefined ? undefined : BigInt(match[1]);
  if (seq === undefined || seq > MAX_SEQ) {
    throw new AppError('validation_failed', 'cursor is not valid: pass back a next_cursor value');
  }
  return seq;
}

/** An invariant that cannot fail unless the code or the database is wrong: abort the transaction. */
function assertInvariant(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`invariant violated: ${what}`);
}
