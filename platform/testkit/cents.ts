/**
 * The tests' and tools' one codec between the API's 2-decimal amount strings and bigint cents
 * (the services' own, stricter parsing lives in transaction-service's domain/money.ts).
 */

/** "12.34" -> 1234n; anything but digits, a point and exactly two decimals is refused. */
export function parseCents(amount: string): bigint {
  const match = /^(\d+)\.(\d{2})$/.exec(amount);
  if (!match) throw new Error(`not a 2-decimal amount: ${amount}`);
  return BigInt(match[1]!) * 100n + BigInt(match[2]!);
}

/** 1234n -> "12.34"; a negative amount keeps its sign ("-0.05"). */
export function formatCents(minor: bigint): string {
  const sign = minor < 0n ? '-' : '';
  const abs = minor < 0n ? -minor : minor;
  return `${sign}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`;
}
