import Joi from 'joi';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// Invisible format characters (Unicode category Cf: U+200B zero-width space, U+202E right-to-left
// override, U+00AD soft hyphen, …) and control characters: an address containing one looks exactly
// like another user's address, so it could only serve to impersonate.
const INVISIBLE_OR_CONTROL = /[\p{Cf}\p{Cc}]/u;
// What String.prototype.trim removes, except U+FEFF: a byte-order mark is a format character (Cf)
// and is refused like the others, wherever it is, instead of silently trimmed.
const EDGE_WHITESPACE = /^(?:(?!\uFEFF)\s)+|(?:(?!\uFEFF)\s)+$/g;

/**
 * One definition of a valid email for every endpoint: trimmed and lower-cased first (so
 * " Alice@X.io " and "alice@x.io" are the same user), then checked. 254 is the longest address
 * SMTP can carry; top-level domains are not checked against a list that goes stale.
 */
export const emailSchema = Joi.string()
  .custom((value: string) => value.replace(EDGE_WHITESPACE, ''))
  // A lone UTF-16 surrogate passes Joi's checks but not PostgreSQL's JSON (the outbox payload):
  // refuse it here as a client mistake instead of failing the insert with a 500.
  .custom((value: string, helpers) => (LONE_SURROGATE.test(value) ? helpers.error('string.wellFormed') : value))
  .custom((value: string, helpers) => (INVISIBLE_OR_CONTROL.test(value) ? helpers.error('string.invisible') : value))
  // One spelling per address: "é" typed as one code point or as "e" + a combining accent is one user.
  .normalize('NFC')
  .lowercase()
  .email({ tlds: false })
  .max(254)
  .messages({
    'string.wellFormed': '{{#label}} must be well-formed Unicode',
    'string.invisible': '{{#label}} must not contain invisible, formatting or control characters',
  });
