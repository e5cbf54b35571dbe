/**
 * Where balance changes leave the wallet (issue 19): outbox-relay publishes every one to this Kafka
 * topic (key: the user id), and downstream consumers read it as the read-only principal
 * `money-events-reader`. A name of its own, like user-created's: KAFKA_TOPIC_MONEY_EVENTS moves it.
 */
export const MONEY_EVENTS_TOPIC = 'money-events';

/**
 * The reader may use only consumer groups whose names start with this (one PREFIXED ACL,
 * platform/tools/infra/kafka-setup.mjs): each downstream consumer picks its own group below it.
 */
export const MONEY_EVENTS_GROUP_PREFIX = 'money-events-';
