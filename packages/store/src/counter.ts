/** The signed 64-bit range of counters. */
export const COUNTER_MIN = -(2n ** 63n);
export const COUNTER_MAX = 2n ** 63n - 1n;

/** "-9223372036854775808" is the longest canonical counter text. */
const COUNTER_DIGITS_MAX = 20;
const MINUS = 0x2d;
const DIGIT_ZERO = 0x30;
const DIGIT_NINE = 0x39;

/**
 * Parses a counter value: canonical decimal ASCII ("0", or an optional "-" followed by
 * digits without leading zeros), within the signed 64-bit range. Anything else
 * (whitespace, "+", "-0", "007", other bytes) is not a counter and yields undefined;
 * accepting a single spelling keeps Incr's answer identical however a value was set.
 */
export function parseCounter(value: Uint8Array): bigint | undefined {
  if (value.length === 0 || value.length > COUNTER_DIGITS_MAX) return undefined;
  const start = value[0] === MINUS ? 1 : 0;
  if (start === value.length) return undefined;
  if (value[start] === DIGIT_ZERO && (value.length > start + 1 || start === 1)) return undefined;
  let text = start === 1 ? "-" : "";
  for (let index = start; index < value.length; index++) {
    const byte = value[index] as number;
    if (byte < DIGIT_ZERO || byte > DIGIT_NINE) return undefined;
    text += String.fromCharCode(byte);
  }
  const parsed = BigInt(text);
  return parsed < COUNTER_MIN || parsed > COUNTER_MAX ? undefined : parsed;
}

/** The canonical decimal ASCII form of a counter. */
export function formatCounter(counter: bigint): Uint8Array {
  const text = counter.toString();
  const bytes = new Uint8Array(text.length);
  for (let index = 0; index < text.length; index++) bytes[index] = text.charCodeAt(index);
  return bytes;
}
