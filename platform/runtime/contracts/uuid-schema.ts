import Joi from 'joi';

/**
 * A UUID in its one canonical text form: 8-4-4-4-12 hex digits with hyphens, lower-cased.
 * Joi's plain guid() also takes `{…}`, `[…]`, `(…)`, `:` separators and no separators at all;
 * PostgreSQL rejects some of those (a 500 instead of a 400) and rewrites the others, so an id
 * read back from the database would no longer equal the one the client sent.
 */
export function uuidSchema(options: { versions?: Array<'uuidv4' | 'uuidv7'> } = {}): Joi.StringSchema {
  return Joi.string()
    .trim()
    .lowercase()
    .guid({ separator: '-', wrapper: false, ...(options.versions ? { version: options.versions } : {}) });
}
