import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '@wallet/platform';
import { formatMinor, parseAmount } from '../src/domain/money';

const max = { maxMinor: 100_000_000_000n };

describe('parseAmount', () => {
  test('reads strings and JSON numbers exactly into cents', () => {
    assert.equal(parseAmount('12.50', max), 1250n);
    assert.equal(parseAmount('12.5', max), 1250n);
    assert.equal(parseAmount('12', max), 1200n);
    assert.equal(parseAmount(12.5, max), 1250n);
    assert.equal(parseAmount(0.1, max), 10n);
    assert.equal(parseAmount(0.29, max), 29n); // 0.29 * 100 is 28.999999999999996 in floating point
    assert.equal(parseAmount(1.15, max), 115n); // 1.15 * 100 is 114.99999999999999
    assert.equal(parseAmount('1000000000.00', max), 100_000_000_000n);
    assert.equal(parseAmount(999999999.99, max), 99_999_999_999n);
  });

  for (const bad of [
    '0.001', '0', '0.00', '-1', '+1', '1e3', '1E3', '', ' 1', '1 ', '01', '.5', '5.', '1,00', 'NaN', 'Infinity',
    '1000000000.01', 0, -1, 0.001, 1e21, 1e-7, Number.NaN, Infinity, null, true, {}, [], '１２',
  ]) {
    test(`rejects ${typeof bad === 'number' ? String(bad) : JSON.stringify(bad)}`, () => {
      assert.throws(
        () => parseAmount(bad, max),
        (error: unknown) => error instanceof AppError && error.code === 'invalid_amount',
      );
    });
  }
});

describe('parseAmount with a large configured maximum', () => {
  const large = { maxMinor: 99_999_999_999_999_999n }; // the largest amount the pattern reads
  test('a JSON number is accepted only while a double carries it exactly (15 significant digits)', () => {
    assert.equal(parseAmount(1234567890123.45, large), 123456789012345n);
    assert.equal(parseAmount('100000000000000.01', large), 10000000000000001n); // as a string: exact
    // As JSON numbers these arrive already changed (…0.02 and …0.98): refused, never rounded.
    for (const lossy of [Number('100000000000000.01'), Number('99999999999999.99')]) {
      assert.throws(
        () => parseAmount(lossy, large),
        (error: unknown) => error instanceof AppError && error.code === 'invalid_amount' && /as a string/.test(error.message),
      );
    }
  });
});

describe('formatMinor', () => {
  test('always two decimals', () => {
    assert.equal(formatMinor(0n), '0.00');
    assert.equal(formatMinor(5n), '0.05');
    assert.equal(formatMinor(1250n), '12.50');
    assert.equal(formatMinor('9223372036854775807'), '92233720368547758.07');
  });
});
