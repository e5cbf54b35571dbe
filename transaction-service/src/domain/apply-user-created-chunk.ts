import type { Knex } from '@wallet/platform';
import { insertDeadLetter, type DeadLetter } from '../data-access/dead-letters-repository';
import { isPermanentDatabaseError, registerUser, type DecodedMessage, type MessageHeaders, type UserCreatedEvent } from './register-user';
import { registerUsers } from './register-users';

/**
 * The dead-letter policy of user-created: which messages are set aside for an operator instead of
 * retried, and how they are kept. A message is dead-lettered when it can never be processed — it
 * does not decode, or the database refuses its content for good — never for an outage: a
 * dead-lettered message is lost to the pipeline, a retried one only late.
 */

/** One message of a chunk: where it came from, its raw parts, and what decoding made of it. */
export interface ChunkMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: MessageHeaders;
  decoded: DecodedMessage;
}

export type MessageOutcome = 'registered' | 'duplicate' | 'dead_lettered';

/** What applying a chunk did; the caller counts and logs it. */
export interface ChunkReport {
  /** `batch`: one transaction for the chunk; `one_by_one`: after the database refused the chunk. */
  mode: 'batch' | 'one_by_one';
  counts: Record<MessageOutcome, number>;
  /** Event ids whose user was created now (batch mode only; one by one they are only counted). */
  registeredEventIds: string[];
  deadLetters: DeadLetter[];
}

/**
 * Applies a chunk: in one transaction when the database takes it whole, else one message at a
 * time, so only the message the database refuses is dead-lettered. `onRefused` hears of the
 * fallback before it starts. Throws on a transient error (nothing of the chunk is lost: a retry
 * finds what was applied as duplicates).
 */
export async function applyUserCreatedChunk(
  knex: Knex,
  items: readonly ChunkMessage[],
  onRefused: (error: unknown) => void,
): Promise<ChunkReport> {
  try {
    return await applyInOneTransaction(knex, items);
  } catch (error) {
    if (!isPermanentDatabaseError(error)) throw error;
    onRefused(error);
    return applyOneByOne(knex, items);
  }
}

/** The whole chunk in one transaction. Throws on any database error (nothing committed). */
async function applyInOneTransaction(knex: Knex, items: readonly ChunkMessage[]): Promise<ChunkReport> {
  const events: UserCreatedEvent[] = [];
  const deadLetters: DeadLetter[] = [];
  for (const item of items) {
    if (item.decoded.ok) events.push(item.decoded.event);
    else deadLetters.push(toDeadLetter(item, item.decoded.reason));
  }
  const outcome = await registerUsers(knex, { events, deadLetters });
  return {
    mode: 'batch',
    counts: { registered: outcome.registered.size, duplicate: outcome.duplicates, dead_lettered: outcome.deadLettered },
    registeredEventIds: [...outcome.registered],
    deadLetters,
  };
}

/**
 * After the database refused the chunk for good (a data or integrity error: one message's
 * content), each message in its own transaction; a transient error here throws, and the chunk is
 * retried (what was already applied is then a duplicate).
 */
async function applyOneByOne(knex: Knex, items: readonly ChunkMessage[]): Promise<ChunkReport> {
  const counts = { registered: 0, duplicate: 0, dead_lettered: 0 };
  const deadLetters: DeadLetter[] = [];
  for (const item of items) {
    const applied = await applyOne(knex, item);
    counts[applied.outcome] += 1;
    if (applied.outcome === 'dead_lettered') deadLetters.push(applied.letter);
  }
  return { mode: 'one_by_one', counts, registeredEventIds: [], deadLetters };
}

type OneOutcome = { outcome: 'registered' | 'duplicate' } | { outcome: 'dead_lettered'; letter: DeadLetter };

/** One message in its own transaction: registered, a duplicate, or (undecodable, refused) dead-lettered. */
async function applyOne(knex: Knex, item: ChunkMessage): Promise<OneOutcome> {
  let reason: string;
  if (item.decoded.ok) {
    try {
      return { outcome: await registerUser(knex, item.decoded.event) };
    } catch (error) {
      if (!isPermanentDatabaseError(error)) throw error;
      reason = `the database refused the event: ${error instanceof Error ? error.message : String(error)}`;
    }
  } else {
    reason = item.decoded.reason;
  }
  const letter = toDeadLetter(item, reason);
  await insertDeadLetter(knex, letter);
  return { outcome: 'dead_lettered', letter };
}

/** The message as it is kept in dead_letters: whole, in text a PostgreSQL text or jsonb column accepts. */
function toDeadLetter(item: ChunkMessage, reason: string): DeadLetter {
  return {
    topic: item.topic,
    partition: item.partition,
    offset: item.offset,
    key: item.key ? toStorableText(item.key) : null,
    value: item.value ? toStorableText(item.value) : null,
    headers: Object.fromEntries(Object.entries(item.headers).map(([k, v]) => [toStorableText(k), toStorableText(v)])),
    // The reason can quote a header (an unexpected event type), so it is cleaned like one.
    reason: toStorableText(reason),
  };
}

/**
 * PostgreSQL text and jsonb cannot hold NUL, and invalid UTF-8 would be refused: a binary poison
 * message must still fit in dead_letters, or it would be retried for ever and block its partition.
 */
function toStorableText(raw: Buffer | string): string {
  return (typeof raw === 'string' ? raw : raw.toString('utf8')).replaceAll('\u0000', '\\u0000');
}
