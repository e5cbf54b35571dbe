import Joi from 'joi';
import { uuidSchema } from './uuid-schema';

/**
 * The `user-created` event, written to user-service's outbox and read by transaction-service.
 * Both sides import this one definition so the producer and the consumer cannot drift.
 */
export const USER_CREATED_EVENT_TYPE = 'user-created';

/**
 * The Kafka topic the event travels on by default (KAFKA_TOPIC_USER_CREATED overrides it). A name
 * of its own, not the event type: tests and deployments move the topic, never the type.
 */
export const USER_CREATED_TOPIC = 'user-created';

export interface UserCreatedPayload {
  user_id: string;
  email: string;
  created_at: string;
}

/** Kafka message headers carried with every event (values are strings). */
export const EVENT_HEADERS = { eventId: 'event-id', eventType: 'event-type' } as const;

export const userCreatedPayloadSchema = Joi.object<UserCreatedPayload>({
  user_id: uuidSchema({ versions: ['uuidv4', 'uuidv7'] }).required(),
  email: Joi.string().email({ tlds: false }).required(),
  created_at: Joi.string().isoDate().required(),
}).unknown(true);

export const eventIdSchema = uuidSchema().required();
