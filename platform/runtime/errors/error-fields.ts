/**
 * Reading fields off a thrown value whose type nobody promises (pg, knex, node, nats and kafkajs
 * errors all carry a string `code`; pg adds `constraint`). The one place that looks inside unknown
 * errors, so no caller needs a cast.
 */
export function errorField(error: unknown, field: 'code' | 'constraint' | 'name' | 'message'): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const value = (error as Record<string, unknown>)[field];
  return typeof value === 'string' ? value : undefined;
}

/** The SQLSTATE of a PostgreSQL error (or a node socket error code such as ECONNREFUSED). */
export function sqlState(error: unknown): string | undefined {
  return errorField(error, 'code');
}

/** SQLSTATE classes and socket errors that mean "the database is unreachable right now". */
const UNAVAILABLE_SQLSTATE = /^(08|57P0[1-3]|53300)/;
const UNAVAILABLE_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND']);
/**
 * Errors without a SQLSTATE that still mean "the connection is gone": pg's own (the socket closed
 * mid-query, or a query sent on a client that already saw its connection fail) and knex's (a query
 * on a transaction that ended under it because its connection failed).
 */
const LOST_CONNECTION_MESSAGES =
  /Connection terminated|connection is closed|Client was closed|Connection ended unexpectedly|connection error and is not queryable|Transaction query already complete/i;

/**
 * The database went away or cannot take the connection (restart, pool acquire timeout, socket
 * closed): an outage, not a defect. Nothing uncommitted survived it.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = sqlState(error) ?? '';
  const message = errorField(error, 'message');
  return (
    errorField(error, 'name') === 'KnexTimeoutError' ||
    UNAVAILABLE_SQLSTATE.test(code) ||
    UNAVAILABLE_SOCKET_CODES.has(code) ||
    (message !== undefined && LOST_CONNECTION_MESSAGES.test(message))
  );
}
