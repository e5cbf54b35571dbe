import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError, JsonNumber } from '@wallet/platform';
import { formatMinor, parseAmount } from '../src/domain/money';

const max = { maxMinor: 100_000_000_000n };
/** A JSON number as a request body delivers it: its literal, never a double. */
const n = (literal: string) => new JsonNumber(literal);
const label = (value: unknown) => (value instanceof JsonNumber ? `JSON number ${value.source}` : typeof value === 'number' ? `JS number ${value}` : JSON.stringify(value));

describe('parseAmount', () => {
  test('reads strings and JSON numbers exactly into cents', () => {
    assert.equal(parseAmount('12.50', max), 1250n);
    assert.equal(parseAmount('12.5', max), 1250n);
    assert.equal(parseAmount('12', max), 1200n);
    assert.equal(parseAmount(n('12.5'), max), 1250n);
    assert.equal(parseAmount(n('12.50'), max), 1250n);
    assert.equal(parseAmount(n('0.1'), max), 10n);
    assert.equal(parseAmount(n('0.29'), max), 29n); // 0.29 * 100 is 28.999999999999996 in floating point
    assert.equal(parseAmount(n('1.15'), max), 115n); // 1.15 * 100 is 114.99999999999999
    assert.equal(parseAmount('1000000000.00', max), 100_000_000_000n);
    assert.equal(parseAmount(n('999999999.99'), max), 99_999_999_999n);
  });

  for (const bad of [
    '0.001', '0', '0.00', '-1', '+1', '1e3', '1E3', '', ' 1', '1 ', '01', '.5', '5.', '1,00', 'NaN', 'Infinity',
    '1000000000.01', n('0'), n('-1'), n('0.001'), n('1e21'), n('1e2'), n('1E1'), n('1e-7'), n('-0'), n('12.500'),
    n('0.0099999999999999999'), n('1000000000.01'), null, true, {}, [], '１２',
    // A double never reaches money: a JS number (not from a request body) is refused outright.
    12.5, 0.29, Number.NaN, Infinity,
  ]) {
    test(`rejects ${label(bad)}`, () => {
      assert.throws(
        () => parseAmount(bad, max),
        (error: unknown) => error instanceof AppError && error.code === 'invalid_amount',
      );
    });
  }
});

describe('parseAmount with a large configured maximum', () => {
  const large = { maxMinor: 99_999_999_999_999_999n }; // the largest amount the pattern reads
  test('JSON numbers beyond what a double holds are read exactly from their literal', () => {
    assert.equal(parseAmount(n('1234567890123.45'), large), 123456789012345n);
    // As doubles these would be …0.02 and …0.98; read from the literal they are exact.
    assert.equal(parseAmount(n('100000000000000.01'), large), 10000000000000001n);
    assert.equal(parseAmount(n('99999999999999.99'), large), 9999999999999999n);
    assert.equal(parseAmount('100000000000000.01', large), 10000000000000001n);
  });
});

describe('formatMinor', () => {
  test('always two decimals', () => {
    assert.equal(formatMinor(0n), '0.00');
    assert.equal(formatMinor(5n), '0.05');
    assert.equal(formatMinor(1250n), '12.50');
    assert.equal(formatMinor(9_223_372_036_854_775_807n), '92233720368547758.07');
  });
});
