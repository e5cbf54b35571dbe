import type Joi from 'joi';
import { AppError, truncateUtf8 } from '../errors/app-error';

/** At most this many problems are named in one validation_failed detail; the rest are counted. */
export const MAX_REPORTED_PROBLEMS = 10;
/** A problem quotes the client's field name, which may be as long as the body: each is cut to this. */
const MAX_PROBLEM_BYTES = 160;

/**
 * Validates client input against a joi schema: the converted value, or a 400 validation_failed
 * naming the first problems at once (a body with thousands of unknown keys gets a short answer,
 * not a list as long as itself). Unknown fields are refused so a misspelt field is never ignored.
 */
export function validateInput<T>(schema: Joi.Schema<T>, value: unknown): T {
  const result = schema.validate(value, { abortEarly: false, convert: true, allowUnknown: false });
  if (result.error) {
    const { details } = result.error;
    const named = details
      .slice(0, MAX_REPORTED_PROBLEMS)
      .map((d) => truncateUtf8(d.message.replace(/"/g, ''), MAX_PROBLEM_BYTES));
    const more = details.length - named.length;
    if (more > 0) named.push(`and ${more} more problem${more === 1 ? '' : 's'}`);
    throw new AppError('validation_failed', named.join('; '));
  }
  return result.value;
}

/**
 * The parsed JSON body, typed as `unknown` on purpose: it is client input until a schema has
 * validated it. Its numbers are JsonNumber (their exact source text), not doubles.
 */
export function requestBody(ctx: { request: object }): unknown {
  return (ctx.request as { body?: unknown }).body;
}
