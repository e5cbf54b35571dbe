/**
 * Where the local infrastructure listens: `platform/tools/infra/infra.sh` and docker-compose's host ports
 * open these. The one spelling of them for the services' config defaults, the test kit and the
 * tools (an address written twice drifts the day one of them moves).
 */
export const LOCAL_POSTGRES_HOST = '127.0.0.1';
export const LOCAL_POSTGRES_PORT = 5432;
// The project's own nats-server and Kafka (authenticated), on ports of their own: the machine's
// default NATS on 4222 is left alone.
export const LOCAL_NATS_PORT = 4223;
export const LOCAL_NATS_URL = `nats://127.0.0.1:${LOCAL_NATS_PORT}`;
export const LOCAL_KAFKA_BROKERS = '127.0.0.1:9094';

/** A login on the local PostgreSQL (trust authentication: no password). */
export function localPostgresUrl(role: string, database: string): string {
  return `postgres://${role}@${LOCAL_POSTGRES_HOST}:${LOCAL_POSTGRES_PORT}/${database}`;
}
