import type { Knex } from '@wallet/platform';

/**
 * The dead_letters table: user-created messages that can never be processed (undecodable, or
 * refused by the database), kept whole for an operator instead of blocking their partition.
 */
export interface DeadLetter {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
  reason: string;
}

/** Keeps a chunk's unprocessable messages in one statement; idempotent per (topic, partition, offset). */
export async function insertDeadLetters(db: Knex | Knex.Transaction, letters: readonly DeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  await db('dead_letters')
    .insert(
      letters.map((letter) => ({
        topic: letter.topic,
        kafka_partition: letter.partition,
        kafka_offset: letter.offset,
        message_key: letter.key,
        message_value: letter.value,
        headers: JSON.stringify(letter.headers),
        reason: letter.reason,
      })),
    )
    .onConflict(['topic', 'kafka_partition', 'kafka_offset'])
    .ignore();
}

/** Keeps one message that can never be processed; idempotent per (topic, partition, offset). */
export async function insertDeadLetter(db: Knex, letter: DeadLetter): Promise<void> {
  await insertDeadLetters(db, [letter]);
}
