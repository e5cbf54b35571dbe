import type { Knex } from '@wallet/platform';

/** Records that an event was applied; false when it already was (a redelivery or a replay). */
export async function insertProcessedEvent(trx: Knex.Transaction, eventId: string, eventType: string): Promise<boolean> {
  const rows = await trx('processed_events')
    .insert({ event_id: eventId, event_type: eventType })
    .onConflict('event_id')
    .ignore()
    .returning('event_id');
  return rows.length > 0;
}

/** Creates the wallet user with a zero balance; false when the user already exists. */
export async function insertUserIfAbsent(
  trx: Knex.Transaction,
  user: { user_id: string; created_at: Date },
): Promise<boolean> {
  const rows = await trx('users')
    .insert({ user_id: user.user_id, balance_minor: 0, created_at: user.created_at })
    .onConflict('user_id')
    .ignore()
    .returning('user_id');
  return rows.length > 0;
}

export interface DeadLetter {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
  reason: string;
}

/** Keeps a message that can never be processed; idempotent per (topic, partition, offset). */
export async function insertDeadLetter(db: Knex, letter: DeadLetter): Promise<void> {
  await db('dead_letters')
    .insert({
      topic: letter.topic,
      kafka_partition: letter.partition,
      kafka_offset: letter.offset,
      message_key: letter.key,
      message_value: letter.value,
      headers: JSON.stringify(letter.headers),
      reason: letter.reason,
    })
    .onConflict(['topic', 'kafka_partition', 'kafka_offset'])
    .ignore();
}
