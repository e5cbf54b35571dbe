import Joi from 'joi';

/**
 * One definition of a valid email for every endpoint: trimmed and lower-cased first (so
 * " Alice@X.io " and "alice@x.io" are the same user), then checked. 254 is the longest address
 * SMTP can carry; top-level domains are not checked against a list that goes stale.
 */
export const emailSchema = Joi.string().trim().lowercase().email({ tlds: false }).max(254);
