import Joi from 'joi';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * One definition of a valid email for every endpoint: trimmed and lower-cased first (so
 * " Alice@X.io " and "alice@x.io" are the same user), then checked. 254 is the longest address
 * SMTP can carry; top-level domains are not checked against a list that goes stale.
 */
export const emailSchema = Joi.string()
  .trim()
  // A lone UTF-16 surrogate passes Joi's checks but not PostgreSQL's JSON (the outbox payload):
  // refuse it here as a client mistake instead of failing the insert with a 500.
  .custom((value: string, helpers) => (LONE_SURROGATE.test(value) ? helpers.error('string.wellFormed') : value))
  // One spelling per address: "é" typed as one code point or as "e" + a combining accent is one user.
  .normalize('NFC')
  .lowercase()
  .email({ tlds: false })
  .max(254)
  .messages({ 'string.wellFormed': '{{#label}} must be well-formed Unicode' });
