import Joi from 'joi';
import { AppError, validateInput } from '@wallet/platform';
import type { HoldFilter } from '../../data-access/wallet-read-view';
import type { HoldState } from '../../domain/transfers/money-command';
import { toHoldBody } from './money-presenter';

/** The HTTP shapes of the holds' reads: GET /users/{user_id}/holds's query and cursor. */

const holdsQuerySchema = Joi.object<{ limit: number; status?: HoldFilter; cursor?: string }>({
  limit: Joi.number().integer().min(1).max(100).default(20),
  status: Joi.string().valid('held', 'captured', 'voided', 'expired'),
  cursor: Joi.string()
    .max(64)
    .pattern(/^[A-Za-z0-9_-]+$/)
    .messages({ 'string.pattern.base': 'cursor is not valid: pass back a next_cursor value' }),
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function parseHoldsQuery(raw: unknown): { limit: number; status?: HoldFilter; beforeHoldId?: string } {
  const query = validateInput(holdsQuerySchema, raw);
  return {
    limit: query.limit,
    ...(query.status ? { status: query.status } : {}),
    ...(query.cursor === undefined ? {} : { beforeHoldId: decodeHoldCursor(query.cursor) }),
  };
}

export function toHoldsPage(page: { holds: HoldState[]; shownAt: Date; nextBeforeHoldId: string | undefined }): Record<string, unknown> {
  return {
    items: page.holds.map((hold) => toHoldBody(hold, page.shownAt)),
    next_cursor: page.nextBeforeHoldId === undefined ? null : Buffer.from(`hold:${page.nextBeforeHoldId}`).toString('base64url'),
  };
}

function decodeHoldCursor(cursor: string): string {
  const match = /^hold:(.+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (match?.[1] === undefined || !UUID.test(match[1])) throw new AppError('validation_failed', 'cursor is not valid: pass back a next_cursor value');
  return match[1];
}
