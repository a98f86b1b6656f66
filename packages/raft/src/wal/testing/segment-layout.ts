import { RECORD_HEADER_BYTES } from "../wal-record.js";

/** Start offsets of the records in a segment's bytes (which must be well formed). */
export function recordOffsets(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const offsets: number[] = [];
  for (let offset = 0; offset < bytes.byteLength; offset += RECORD_HEADER_BYTES + view.getUint32(offset, true)) offsets.push(offset);
  return offsets;
}

/** The start of the record holding byte `at`. */
export function recordStartOf(bytes: Uint8Array, at: number): number {
  let start = 0;
  for (const offset of recordOffsets(bytes)) if (offset <= at) start = offset;
  return start;
}
