import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import type { OutboxMessage } from '../domain/outbox-source';

export interface EventPublisher {
  connect(): Promise<void>;
  publish(topic: string, messages: OutboxMessage[]): Promise<void>;
  disconnect(): Promise<void>;
}

/**
 * An idempotent producer (acks from all in-sync replicas, one request in flight): the broker drops
 * the duplicates its own retries would create. Duplicates from a relay that crashed between send
 * and mark remain possible; consumers drop those by event id.
 */
export function createEventPublisher(kafka: Kafka): EventPublisher {
  let producer: Producer | undefined;
  return {
    async connect() {
      if (producer) return;
      const next = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
        // Bounded (kafkajs would retry an idempotent producer for ever): a send while Kafka is down
        // must fail, so the relay releases its rows and backs off instead of hanging in a transaction.
        retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2_000 },
      });
      try {
        await next.connect();
      } catch (error) {
        await next.disconnect().catch(() => undefined);
        throw error;
      }
      producer = next;
    },
    async publish(topic, messages) {
      const current = producer;
      if (!current) throw new Error('the producer is not connected');
      try {
        await current.send({
          topic,
          acks: -1,
          messages: messages.map(({ key, value, headers }) => ({ key, value, headers })),
        });
      } catch (error) {
        // After a failed send the broker may or may not hold the batch under this producer id and
        // sequence. The next batch can differ (another relay may have taken some rows), and reusing
        // the sequence could make the broker drop it as a "duplicate": start a fresh producer id.
        producer = undefined;
        await current.disconnect().catch(() => undefined);
        throw error;
      }
    },
    async disconnect() {
      const current = producer;
      producer = undefined;
      await current?.disconnect();
    },
  };
}
