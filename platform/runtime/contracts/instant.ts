import Joi from 'joi';

/**
 * An RFC 3339 instant (`2024-05-01T10:00:00Z`, `2024-05-01T12:00:00.250+02:00`), as milliseconds
 * since the epoch. Stricter than Date.parse, which takes February 30 (as March 1), 24:00 and
 * date-only forms: every field is checked against the calendar, an offset is required, and at most
 * three fractional digits are taken, the precision of the ledger's times, so that the instant a
 * client names is exactly the one compared with them (no silent rounding). Leap seconds (:60) are
 * refused: neither JavaScript nor PostgreSQL can represent them.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

export type InstantProblem = 'format' | 'precision';

/** The instant in ms since the epoch, or why it is not one. */
export function parseRfc3339(text: string): number | InstantProblem {
  const m = RFC3339.exec(text);
  if (!m) return 'format';
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const fraction = m[7] ?? '';
  if (fraction.length > 3) return 'precision';
  const offsetMinutes = m[8] === undefined ? 0 : (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]));
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate() + (month === 2 && !isLeapYear(year) ? -1 : 0);
  const valid =
    year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour <= 23 && minute <= 59 && second <= 59 &&
    Number(m[9] ?? 0) <= 23 && Number(m[10] ?? 0) <= 59;
  if (!valid) return 'format';
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, Number(fraction.padEnd(3, '0')));
  return date.getTime() - offsetMinutes * 60_000;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** A joi schema taking an RFC 3339 instant (as parseRfc3339 reads it) and giving its ms since the epoch. */
export function instantSchema(): Joi.AnySchema<number> {
  return Joi.string()
    .max(40)
    .custom((value: string, helpers) => {
      const parsed = parseRfc3339(value);
      if (parsed === 'format') return helpers.error('instant.format');
      if (parsed === 'precision') return helpers.error('instant.precision');
      return parsed;
    })
    .messages({
      'instant.format': '{{#label}} must be an RFC 3339 instant with an offset, like 2024-05-01T10:00:00Z',
      'instant.precision': '{{#label}} may have at most 3 fractional digits (milliseconds)',
    }) as unknown as Joi.AnySchema<number>;
}
