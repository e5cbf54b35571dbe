import {
  EVENT_HEADERS,
  eventIdSchema,
  runInTransaction,
  sqlState,
  USER_CREATED_EVENT_TYPE,
  userCreatedPayloadSchema,
  type Knex,
  type UserCreatedPayload,
} from '@wallet/platform';
import { insertProcessedEvent, insertUserIfAbsent } from '../data-access/user-events-repository';

export interface UserCreatedEvent {
  eventId: string;
  eventType: string;
  payload: UserCreatedPayload;
}

export type DecodedMessage = { ok: true; event: UserCreatedEvent } | { ok: false; reason: string };

/** Kafka message headers as strings (kafkajs hands them over as Buffers). */
export type MessageHeaders = Record<string, string>;

/**
 * Checks a `user-created` message against the shared contract. A message that fails here will
 * fail the same way on every redelivery, so the caller dead-letters it instead of retrying.
 */
export function decodeUserCreatedMessage(value: Buffer | null, headers: MessageHeaders): DecodedMessage {
  const eventId = headers[EVENT_HEADERS.eventId];
  if (eventId === undefined) return { ok: false, reason: `missing ${EVENT_HEADERS.eventId} header` };
  const checkedId = eventIdSchema.validate(eventId);
  if (checkedId.error) return { ok: false, reason: `invalid ${EVENT_HEADERS.eventId} header` };
  const eventType = headers[EVENT_HEADERS.eventType] ?? USER_CREATED_EVENT_TYPE;
  if (eventType !== USER_CREATED_EVENT_TYPE) return { ok: false, reason: `unexpected event type ${eventType}` };
  if (value === null) return { ok: false, reason: 'empty message value' };

  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    return { ok: false, reason: 'value is not valid JSON' };
  }
  const result = userCreatedPayloadSchema.validate(parsed, { abortEarly: false, convert: false });
  if (result.error) {
    return { ok: false, reason: `payload violates the user-created schema: ${result.error.details.map((d) => d.message).join('; ')}` };
  }
  // The canonical (trimmed, lower-case) id: it is the form PostgreSQL returns when a chunk's claims
  // are matched back to their events.
  return { ok: true, event: { eventId: checkedId.value, eventType, payload: result.value } };
}

export type RegistrationOutcome = 'registered' | 'duplicate';

/**
 * Applies the event exactly once: the event id and the user are written in one transaction, and
 * an event id seen before (redelivery after a crash, a replay) changes nothing.
 */
export async function registerUser(knex: Knex, event: UserCreatedEvent): Promise<RegistrationOutcome> {
  return runInTransaction(knex, async (trx) => {
    const isNewEvent = await insertProcessedEvent(trx, event.eventId, event.eventType);
    if (!isNewEvent) return 'duplicate';
    const isNewUser = await insertUserIfAbsent(trx, {
      user_id: event.payload.user_id,
      created_at: new Date(event.payload.created_at),
    });
    return isNewUser ? 'registered' : 'duplicate';
  });
}

/**
 * Data exceptions (class 22) and integrity violations (class 23) are the database refusing this
 * message's content: retrying cannot help. Everything else (connection lost, shutdown, missing
 * table during a migration) is worth waiting out.
 */
export function isPermanentDatabaseError(error: unknown): boolean {
  const code = sqlState(error);
  return code !== undefined && (code.startsWith('22') || code.startsWith('23'));
}
