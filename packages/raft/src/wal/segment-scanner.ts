import { crc32 } from "node:zlib";
import { FormatVersionError, RecordDecodeError } from "./byte-reader.js";
import { decodeRecord } from "./record-decoder.js";
import { WalCorruptionError, WalFormatError } from "./wal-errors.js";
import type { WalRecord } from "./wal-record.js";
import { FORMAT_VERSION, FORMAT_VERSIONS_READ, RECORD_HEADER_BYTES } from "./wal-record.js";

export interface SegmentScan {
  /** Bytes up to the end of the last good record. */
  readonly validBytes: number;
  /** True if bytes after `validBytes` were discarded as a torn tail. */
  readonly torn: boolean;
}

/**
 * Walks the records of one segment and hands each to `onRecord` with its
 * offset. The rules that tell a torn tail (a write cut short by a crash: drop
 * it) from corruption (refuse to start):
 *
 * - Only the last segment can end in a torn record: a segment is fully synced
 *   before the next one gets any record, so earlier segments are complete.
 * - In the last segment, the tail is torn if it is shorter than a header, if
 *   the body runs past the end of the file, if it is all zero bytes (a
 *   file system that extended the file but never wrote the data), or if the
 *   body checksum fails on the record that ends exactly at the end of the file.
 * - Anything else that fails a check is corruption, reported with the record's
 *   offset: a bad header or body checksum followed by more bytes, an
 *   undecodable body, or an error raised by `onRecord`.
 */
export function scanSegment(path: string, bytes: Uint8Array, isLast: boolean, onRecord: (record: WalRecord, offset: number) => void): SegmentScan {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = bytes.byteLength;
  let offset = 0;
  while (offset < length) {
    const problem = frameProblem(bytes, view, offset);
    if (problem !== undefined) {
      if (isLast && problem.tornIfLast) return { validBytes: offset, torn: true };
      throw new WalCorruptionError(path, offset, problem.reason);
    }
    const bodyStart = offset + RECORD_HEADER_BYTES;
    const bodyEnd = bodyStart + view.getUint32(offset, true);
    let record: WalRecord;
    try {
      record = decodeRecord(bytes, bodyStart, bodyEnd);
    } catch (error) {
      if (error instanceof FormatVersionError) throw new WalFormatError(path, error.version, FORMAT_VERSION, FORMAT_VERSIONS_READ);
      if (error instanceof RecordDecodeError) throw new WalCorruptionError(path, offset, error.message);
      throw error;
    }
    onRecord(record, offset);
    offset = bodyEnd;
  }
  return { validBytes: length, torn: false };
}

interface FrameProblem {
  readonly reason: string;
  /** Whether this failure is what a crash in the middle of writing the last record looks like. */
  readonly tornIfLast: boolean;
}

/** Checks the frame at `offset`: header present and intact, body present and intact. */
function frameProblem(bytes: Uint8Array, view: DataView, offset: number): FrameProblem | undefined {
  const left = bytes.byteLength - offset;
  if (left < RECORD_HEADER_BYTES) return { reason: `segment ends ${left} B into a record header`, tornIfLast: true };
  if (crc32(bytes.subarray(offset, offset + 8)) !== view.getUint32(offset + 8, true)) {
    return { reason: "record header checksum mismatch", tornIfLast: isZero(bytes, offset) };
  }
  const bodyBytes = view.getUint32(offset, true);
  if (bodyBytes === 0) return { reason: "record has an empty body", tornIfLast: false };
  const bodyStart = offset + RECORD_HEADER_BYTES;
  const bodyEnd = bodyStart + bodyBytes;
  if (bodyEnd > bytes.byteLength) {
    return { reason: `record body of ${bodyBytes} B runs past the end of the segment (${left - RECORD_HEADER_BYTES} B left)`, tornIfLast: true };
  }
  if (crc32(bytes.subarray(bodyStart, bodyEnd)) !== view.getUint32(offset + 4, true)) {
    return { reason: "record body checksum mismatch", tornIfLast: bodyEnd === bytes.byteLength };
  }
  return undefined;
}

function isZero(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.byteLength; i++) if (bytes[i] !== 0) return false;
  return true;
}
