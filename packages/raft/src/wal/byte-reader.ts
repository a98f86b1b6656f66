import { VARINT_BYTES_MAX } from "../varint.js";

/** The bytes of a record do not decode; the scanner turns it into a `WalCorruptionError` with the file and offset. */
export class RecordDecodeError extends Error {
  override readonly name = "RecordDecodeError";
}

/** A checkpoint names a format version this build does not read; the scanner turns it into a `WalFormatError`. */
export class FormatVersionError extends RecordDecodeError {
  constructor(readonly version: number) {
    super(`format version ${version} is not read by this build`);
  }
}

/** Reads a record body in place. Every read is bounds-checked against `end`. */
export class ByteReader {
  constructor(
    readonly bytes: Uint8Array,
    private offset: number,
    readonly end: number,
  ) {}

  get position(): number {
    return this.offset;
  }

  get isAtEnd(): boolean {
    return this.offset === this.end;
  }

  u8(): number {
    if (this.offset >= this.end) throw new RecordDecodeError(`record ends inside a field at byte ${this.offset}`);
    return this.bytes[this.offset++]!;
  }

  /** A varint as written by `writeVarint`; rejects overlong encodings and values past 2^53 - 1. */
  varint(): number {
    const bytes = this.bytes;
    let at = this.offset;
    const end = this.end;
    // Fast path: one byte (most terms, kinds and small lengths).
    if (at < end && bytes[at]! < 0x80) {
      this.offset = at + 1;
      return bytes[at]!;
    }
    let value = 0;
    let scale = 1;
    for (let count = 0; count < VARINT_BYTES_MAX; count++) {
      if (at >= end) throw new RecordDecodeError(`record ends inside a varint at byte ${at}`);
      const byte = bytes[at++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (!Number.isSafeInteger(value)) throw new RecordDecodeError(`varint at byte ${this.offset} exceeds 2^53 - 1`);
        this.offset = at;
        return value;
      }
      scale *= 0x80;
    }
    throw new RecordDecodeError(`varint at byte ${this.offset} is longer than ${VARINT_BYTES_MAX} bytes`);
  }

  /** The next `length` bytes, as a view (no copy). */
  bytesView(length: number): Uint8Array {
    const start = this.offset;
    if (length > this.end - start) throw new RecordDecodeError(`a ${length}-byte field at byte ${start} runs past the record`);
    this.offset = start + length;
    return this.bytes.subarray(start, start + length);
  }
}
