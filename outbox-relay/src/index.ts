/**
 * The relay as a library, for the platform test kit and the repository's tools (they sit above the
 * services in the build graph): start it in-process and read its configuration. The relay itself
 * starts from entry-points/, never from here.
 */
export { startOutboxRelay, type RunningOutboxRelay } from './start-relay';
export { loadOutboxRelayConfig, outboxRelayConfig, type OutboxRelayConfig } from './config';
