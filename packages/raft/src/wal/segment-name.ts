/**
 * Segment files are named `wal-<seq>.log` with the sequence number in 16
 * decimal digits, so names sort like numbers and 10^16 > 2^53 leaves room for
 * every safe integer.
 */
const SEGMENT_NAME = /^wal-(\d{16})\.log$/;
const SEQ_DIGITS = 16;

export function segmentName(seq: number): string {
  return `wal-${String(seq).padStart(SEQ_DIGITS, "0")}.log`;
}

/** The sequence number of a segment file name, or undefined for any other file. */
export function parseSegmentName(name: string): number | undefined {
  const match = SEGMENT_NAME.exec(name);
  if (match === null) return undefined;
  const seq = Number(match[1]);
  return Number.isSafeInteger(seq) && seq >= 1 ? seq : undefined;
}
