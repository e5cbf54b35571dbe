import Joi from 'joi';
import { AppError, JsonNumber, uuidSchema, validateInput } from '@wallet/platform';
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

/** A transfer's and a hold's two users: from whom, to whom. */
interface PartiesInput {
  from_user_id: string;
  to_user_id: string;
}
const partiesSchema = { from_user_id: uuidSchema().required(), to_user_id: uuidSchema().required() };

const transferSchema = Joi.object<PartiesInput & { amount_to_transfer: unknown }>({
  ...partiesSchema,
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
  const { from, to, amountMinor } = parseMovement(input, input.amount_to_transfer, 'amount_to_transfer', maxAmountMinor);
  return {
    command: { op: 'transfer', fromUserId: from, toUserId: to, amountMinor },
    key,
    fingerprint: fingerprintRequest('transfer', { from, to, amount: amountMinor.toString() }),
  };
}

/** Money that moves (or is reserved) from one user to another: an amount, and two different users. */
function parseMovement(
  parties: PartiesInput,
  amount: unknown,
  amountField: string,
  maxAmountMinor: Minor,
): { from: string; to: string; amountMinor: Minor } {
  const amountMinor = parseAmount(amount, { maxMinor: maxAmountMinor }, amountField);
  const { from_user_id: from, to_user_id: to } = parties;
  if (from === to) throw new AppError('self_transfer', 'from_user_id and to_user_id must differ');
  return { from, to, amountMinor };
}

/** Holds last 7 days unless told otherwise, and at most 30 days. */
export const HOLD_EXPIRY_SECONDS = { default: 604_800, min: 1, max: 2_592_000 } as const;

const holdSchema = Joi.object<PartiesInput & { amount: unknown; expires_in_seconds?: unknown }>({
  ...partiesSchema,
  amount: Joi.any().required(),
  expires_in_seconds: Joi.any(),
});

const captureSchema = Joi.object<{ amount?: unknown }>({ amount: Joi.any() });

export const holdIdParam = uuidSchema().required().label('hold_id');

export function parseHoldRequest(body: unknown, keyHeader: string | undefined, maxAmountMinor: Minor): KeyedCommand {
  const key = parseIdempotencyKey(keyHeader);
  const input = validateInput(holdSchema, body);
  const { from, to, amountMinor } = parseMovement(input, input.amount, 'amount', maxAmountMinor);
  const expiresInSeconds = parseExpiresIn(input.expires_in_seconds);
  return {
    command: { op: 'hold', fromUserId: from, toUserId: to, amountMinor, expiresInSeconds },
    key,
    fingerprint: fingerprintRequest('hold', { from, to, amount: amountMinor.toString(), expires_in: String(expiresInSeconds) }),
  };
}

/** `expires_in_seconds`: a JSON integer (not a string), 1 ... 30 days. */
function parseExpiresIn(input: unknown): number {
  if (input === undefined) return HOLD_EXPIRY_SECONDS.default;
  const text = input instanceof JsonNumber ? input.source : typeof input === 'number' ? String(input) : undefined;
  const value = text !== undefined && /^[1-9][0-9]{0,6}$/.test(text) ? Number(text) : undefined;
  if (value === undefined || value < HOLD_EXPIRY_SECONDS.min || value > HOLD_EXPIRY_SECONDS.max) {
    throw new AppError('validation_failed', `expires_in_seconds must be an integer from ${HOLD_EXPIRY_SECONDS.min} to ${HOLD_EXPIRY_SECONDS.max}`);
  }
  return value;
}

export function parseCaptureRequest(holdIdRaw: unknown, body: unknown, keyHeader: string | undefined, maxAmountMinor: Minor): KeyedCommand {
  const key = parseIdempotencyKey(keyHeader);
  const holdId = validateInput(holdIdParam, holdIdRaw);
  const input = validateInput(captureSchema, body ?? {});
  const amountMinor = input.amount === undefined ? undefined : parseAmount(input.amount, { maxMinor: maxAmountMinor }, 'amount');
  return {
    command: { op: 'capture', holdId, amountMinor },
    key,
    fingerprint: fingerprintRequest('capture', { hold_id: holdId, amount: amountMinor?.toString() ?? 'all' }),
  };
}

export function parseVoidRequest(holdIdRaw: unknown, body: unknown, keyHeader: string | undefined): KeyedCommand {
  const key = parseIdempotencyKey(keyHeader);
  const holdId = validateInput(holdIdParam, holdIdRaw);
  validateInput(Joi.object({}), body ?? {});
  return { command: { op: 'void', holdId }, key, fingerprint: fingerprintRequest('void', { hold_id: holdId }) };
}
