import Joi from 'joi';
import { AppError, isAppError, validateInput } from '@wallet/platform';
import type { BatchItem, BatchRequest } from '../../domain/batch/run-batch';
import type { Minor } from '../../domain/money';
import type { KeyedCommand } from '../../domain/transfers/money-command';
import { parseAddMoneyRequest, parseCaptureRequest, parseHoldRequest, parseTransferRequest, parseVoidRequest } from './money-requests';

/**
 * POST /batch's body (ADR 13): `{atomic?, operations: [{op, idempotency_key?, ...the single
 * endpoint's body}]}`. The envelope is checked as a whole (a mistake there is the request's 400);
 * each operation is then read by exactly its single endpoint's parser, so an invalid one gets the
 * very 400 that endpoint would have given, in its place, and the others still run.
 */

/** What a single endpoint's parser gets: its body, and its Idempotency-Key header's raw value. */
export type BatchOperationParser = (body: Record<string, unknown>, keyHeader: string | undefined, maxAmountMinor: Minor) => KeyedCommand;

/**
 * The operations a batch may carry, each with its single endpoint's parser. A new operation is one
 * entry: `hold` its endpoint's parser as it is; `capture` and `void`, whose single endpoints read
 * hold_id from their path, a parser that takes hold_id out of the body first and hands on the rest.
 */
export const BATCH_OPERATIONS = {
  'add-money': parseAddMoneyRequest,
  transfer: parseTransferRequest,
  hold: parseHoldRequest,
  capture: ({ hold_id: holdId, ...body }, key, maxAmountMinor) => parseCaptureRequest(holdId, body, key, maxAmountMinor),
  void: ({ hold_id: holdId, ...body }, key) => parseVoidRequest(holdId, body, key),
} as const satisfies Record<string, BatchOperationParser>;

export type BatchOperationName = keyof typeof BATCH_OPERATIONS;
const OPERATION_NAMES = Object.keys(BATCH_OPERATIONS) as BatchOperationName[];

export interface BatchLimits {
  maxOperations: number;
  maxAmountMinor: Minor;
}

function envelopeSchema(maxOperations: number) {
  return Joi.object<{ atomic: boolean; operations: unknown[] }>({
    // strict: `"true"` or 1 is a mistake, not a yes.
    atomic: Joi.boolean().strict().default(false),
    operations: Joi.array().min(1).max(maxOperations).required(),
  });
}

export function parseBatchRequest(body: unknown, limits: BatchLimits): BatchRequest {
  const envelope = validateInput(envelopeSchema(limits.maxOperations), body);
  return {
    atomic: envelope.atomic,
    items: envelope.operations.map((operation) => readOperation(operation, limits.maxAmountMinor)),
  };
}

const opSchema = Joi.string()
  .valid(...OPERATION_NAMES)
  .required();

function readOperation(operation: unknown, maxAmountMinor: Minor): BatchItem {
  try {
    if (typeof operation !== 'object' || operation === null || Array.isArray(operation)) {
      throw new AppError('validation_failed', 'an operation must be a JSON object');
    }
    const { op, idempotency_key: key, ...body } = operation as Record<string, unknown>;
    const name = validateInput(opSchema.label('op'), op) as BatchOperationName;
    if (key !== undefined && typeof key !== 'string') {
      throw new AppError('invalid_idempotency_key', 'idempotency_key must be a string: a token or a quoted string of 1-255 printable characters');
    }
    return { ok: true, command: BATCH_OPERATIONS[name](body, key, maxAmountMinor) };
  } catch (error) {
    if (isAppError(error)) return { ok: false, error };
    throw error;
  }
}
