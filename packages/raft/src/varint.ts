/**
 * Unsigned LEB128 varints, as the write-ahead log's records and the sizes of what they
 * hold (a membership, MEMBERSHIP_BYTES_MAX) count them: 7 bits per byte, low bits
 * first, the high bit set on every byte but the last. Terms, indexes and
 * lengths are small most of the time, so most take one or two bytes; values go
 * up to Number.MAX_SAFE_INTEGER (2^53 - 1), which takes 8 bytes.
 */

/** Bytes a varint of a safe integer can take: ceil(53 / 7). */
export const VARINT_BYTES_MAX = 8;

/** Size of the varint encoding of `value` (a non-negative safe integer). */
export function varintBytes(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x20_0000) return 3;
  if (value < 0x1000_0000) return 4;
  let bytes = 4;
  for (let rest = Math.floor(value / 0x1000_0000); rest > 0; rest = Math.floor(rest / 0x80)) bytes += 1;
  return bytes;
}

/** Writes `value` at `offset`; returns the offset after it. The caller sized the buffer with `varintBytes`. */
export function writeVarint(bytes: Uint8Array, offset: number, value: number): number {
  let rest = value;
  let at = offset;
  // Above 2^31 bitwise operators would truncate, so the wide part uses arithmetic.
  while (rest >= 0x8000_0000) {
    bytes[at++] = (rest % 0x80) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  while (rest >= 0x80) {
    bytes[at++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  bytes[at++] = rest;
  return at;
}
