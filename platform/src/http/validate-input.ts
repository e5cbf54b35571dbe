import type Joi from 'joi';
import { AppError } from '../errors/app-error';

/**
 * Validates client input against a joi schema: the converted value, or a 400 validation_failed
 * naming every problem at once. Unknown fields are refused so a misspelt field is never ignored.
 */
export function validateInput<T>(schema: Joi.Schema<T>, value: unknown): T {
  const result = schema.validate(value, { abortEarly: false, convert: true, allowUnknown: false });
  if (result.error) {
    throw new AppError('validation_failed', result.error.details.map((d) => d.message.replace(/"/g, '')).join('; '));
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
