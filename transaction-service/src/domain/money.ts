import { AppError, formatMinor, JsonNumber, PG_BIGINT_MAX } from '@wallet/platform';

/**
 * Money is carried as bigint minor units (cents) from the moment it is parsed to the moment it is
 * formatted; a JavaScript number never takes part in arithmetic on it.
 */
export type Minor = bigint;

/** PostgreSQL BIGINT's upper bound: no balance may pass it. */
export const MAX_BALANCE_MINOR: Minor = PG_BIGINT_MAX;

// Digits only: no sign, no exponent, no leading zeros, at most two decimals. 15 integer digits
// bound the parse long before any configured maximum.
const AMOUNT_PATTERN = /^(0|[1-9]\d{0,14})(?:\.(\d{1,2}))?$/;

/**
 * Parses a client amount exactly: a JSON string ("12.50") or a JSON number (12.5). A JSON number
 * arrives as a JsonNumber, the literal the client sent (request bodies never turn numbers into
 * doubles), so `1e2`, `12.500` and `0.0099999999999999999` fail exactly like the same strings.
 * A JavaScript number is refused: a double may already differ from what the client meant.
 * Anything else (exponents, more decimals, signs) fails the pattern: an amount is rejected,
 * never rounded.
 */
export function parseAmount(input: unknown, options: { maxMinor: Minor | null }, field = 'amount'): Minor {
  let text: string;
  if (typeof input === 'string') text = input;
  else if (input instanceof JsonNumber) text = input.source;
  else throw new AppError('invalid_amount', `${field} must be a decimal string like "12.50" or a JSON number`);

  const match = AMOUNT_PATTERN.exec(text);
  if (!match) {
    throw new AppError('invalid_amount', `${field} must be a positive decimal with at most 2 decimal places, without sign or exponent`);
  }
  const whole = BigInt(match[1] ?? '0');
  const fraction = BigInt((match[2] ?? '').padEnd(2, '0'));
  const minor = whole * 100n + fraction;
  if (minor <= 0n) throw new AppError('invalid_amount', `${field} must be greater than 0`);
  if (options.maxMinor !== null && minor > options.maxMinor) {
    throw new AppError('invalid_amount', `${field} must be at most ${formatMinor(options.maxMinor)}`);
  }
  return minor;
}

/** The platform's one formatter (the events write amounts with it too). */
export { formatMinor };
