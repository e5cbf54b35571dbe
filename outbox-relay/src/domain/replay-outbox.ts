import Joi from 'joi';
import { uuidSchema, type Knex } from '@wallet/platform';
import { findEntrySeqByEventId, requeueMoneyEvents } from '../data-access/money-events-repository';
import {
  findOutboxIdByEventId,
  notifyRelays,
  requeuePublishedEvents,
  type ReplaySelection,
} from '../data-access/outbox-repository';

export class ReplayRequestError extends Error {
  override name = 'ReplayRequestError';
}

const selectionSchema = Joi.object<ReplaySelection>({
  fromEventId: uuidSchema(),
  toEventId: uuidSchema(),
  since: Joi.date().iso(),
  until: Joi.date().iso(),
  userId: uuidSchema(),
})
  // A replay of everything is almost never meant and floods every consumer: insist on a bound.
  .or('fromEventId', 'toEventId', 'since', 'until', 'userId')
  .messages({ 'object.missing': 'give at least one bound: --from-event-id, --to-event-id, --since, --until or --user-id' });

export function parseReplaySelection(input: Record<string, string | undefined>): ReplaySelection {
  const defined = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined));
  const result = selectionSchema.validate(defined, { abortEarly: false, convert: true });
  if (result.error) throw new ReplayRequestError(result.error.details.map((d) => d.message.replace(/"/g, '')).join('; '));
  const selection = result.value;
  if (selection.since && selection.until && selection.since >= selection.until) {
    throw new ReplayRequestError('--since must be before --until');
  }
  return selection;
}

/**
 * Republishes already-published events by marking them unpublished again and waking the relays:
 * the relay's normal path (ordered, locked, retried) does the sending, so a replay needs no Kafka
 * access of its own and cannot race a running relay. Returns how many events were requeued.
 */
export async function replayOutbox(knex: Knex, selection: ReplaySelection): Promise<number> {
  const fromId = selection.fromEventId === undefined ? undefined : await resolveEventId(knex, selection.fromEventId);
  const toId = selection.toEventId === undefined ? undefined : await resolveEventId(knex, selection.toEventId);
  return knex.transaction(async (trx) => {
    const requeued = await requeuePublishedEvents(trx, {
      fromId,
      toId,
      since: selection.since,
      until: selection.until,
      userId: selection.userId,
    });
    if (requeued > 0) await notifyRelays(trx);
    return requeued;
  });
}

async function resolveEventId(knex: Knex, eventId: string): Promise<string> {
  const id = await findOutboxIdByEventId(knex, eventId);
  if (id === undefined) throw new ReplayRequestError(`no outbox event has the id ${eventId}`);
  return id;
}

/**
 * Republishes money events: the selected ledger entries go back into the money outbox (ADR 10),
 * and the running relay publishes them again, rebuilt from the ledger, so each is identical to the
 * first time (same id); consumers drop what they have by id. Returns how many were requeued.
 */
export async function replayMoneyEvents(knex: Knex, selection: ReplaySelection): Promise<number> {
  const seqOf = async (eventId: string): Promise<string> => {
    const seq = await findEntrySeqByEventId(knex, eventId);
    if (seq === undefined) throw new ReplayRequestError(`no money event (ledger entry) has the id ${eventId}`);
    return seq;
  };
  const fromSeq = selection.fromEventId === undefined ? undefined : await seqOf(selection.fromEventId);
  const toSeq = selection.toEventId === undefined ? undefined : await seqOf(selection.toEventId);
  return knex.transaction((trx) =>
    requeueMoneyEvents(trx, { fromSeq, toSeq, since: selection.since, until: selection.until, userId: selection.userId }),
  );
}
