/**
 * Amounts as the API writes them ("12.50") and as bigint minor units (1250n): money is never a
 * JavaScript number here, so no cent is ever lost to floating point.
 */

/** 1250n -> "12.50" (the API's request and response form); negative amounts are refused, as the API would. */
export function formatAmount(minor: bigint): string {
  if (minor < 0n) throw new RangeError('an amount is never negative');
  return `${minor / 100n}.${(minor % 100n).toString().padStart(2, '0')}`;
}

/** "12.50" -> 1250n; exactly what the API answers (digits, a point, two decimals), nothing else. */
export function parseAmount(amount: string): bigint {
  const match = /^(\d+)\.(\d{2})$/.exec(amount);
  if (!match) throw new RangeError(`not an amount with two decimals: ${amount}`);
  return BigInt(match[1]!) * 100n + BigInt(match[2]!);
}
