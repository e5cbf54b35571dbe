import Joi from 'joi';
import { AppError, uuidSchema, validateInput } from '@wallet/platform';
import { fingerprintRequest } from '../../domain/idempotency';
import { parseAmount, type Minor } from '../../domain/money';
import type { KeyedCommand } from '../../domain/transfers/money-command';

/**
 * Everything a money request must pass before it may be queued for a batch: the header's
 * syntax, the body's schema, canonical UUIDs, the amount, no self-transfer. What is queued can
 * then fail only on the database's facts (unknown user, funds, limits), never on its shape.
 */

const addMoneySchema = Joi.object<{ user_id: string; amount: unknown }>({
  user_id: uuidSchema().required(),
  amount: Joi.any().required(),
});

const transferSchema = Joi.object<{ from_user_id: string; to_user_id: string; amount_to_transfer: unknown }>({
  from_user_id: uuidSchema().required(),
  to_user_id: uuidSchema().required(),
  amount_to_transfer: Joi.any().required(),
});

const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~:/=-]{1,255}$/;
const SF_STRING = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\]){1,255})"$/;

/**
 * Reads an Idempotency-Key header: a plain token (`abc-123`) or a structured-field string
 * (`"abc 123"`, draft-ietf-httpapi-idempotency-key-header). Absent -> undefined; malformed -> 400.
 */
export function parseIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  const quoted = SF_STRING.exec(value);
  if (quoted) return (quoted[1] ?? '').replace(/\\(["\\])/g, '$1');
  if (TOKEN.test(value)) return value;
  throw new AppError(
    'invalid_idempotency_key',
    'Idempotency-Key must be 1-255 printable characters: a token or a quoted string',
  );
}

export function parseAddMoneyRequest(body: unknown, keyHeader: string | undefined, maxAmountMinor: Minor): KeyedCommand {
  const key = parseIdempotencyKey(keyHeader);
  const input = validateInput(addMoneySchema, body);
  const amountMinor = parseAmount(input.amount, { maxMinor: maxAmountMinor }, 'amount');
  return {
    command: { op: 'add-money', userId: input.user_id, amountMinor },
    key,
    fingerprint: fingerprintRequest('add-money', { user_id: input.user_id, amount: amountMinor.toString() }),
  };
}

export function parseTransferRequest(body: unknown, keyHeader: string | undefined, maxAmountMinor: Minor): KeyedCommand {
  const key = parseIdempotencyKey(keyHeader);
  const input = validateInput(transferSchema, body);
  const amountMinor = parseAmount(input.amount_to_transfer, { maxMinor: maxAmountMinor }, 'amount_to_transfer');
  const from = input.from_user_id;
  const to = input.to_user_id;
  if (from === to) throw new AppError('self_transfer', 'from_user_id and to_user_id must differ');
  return {
    command: { op: 'transfer', fromUserId: from, toUserId: to, amountMinor },
    key,
    fingerprint: fingerprintRequest('transfer', { from, to, amount: amountMinor.toString() }),
  };
}
