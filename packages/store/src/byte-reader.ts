import { StoreSnapshotError } from "./store-snapshot-error.js";

const decoder = new TextDecoder("utf-8", { fatal: true });
/** Short ASCII strings (most keys) skip TextDecoder, which is slow per call. */
const ASCII_FAST_PATH_BYTES_MAX = 256;

function isAscii(bytes: Uint8Array): boolean {
  for (let index = 0; index < bytes.length; index++) if ((bytes[index] as number) >= 0x80) return false;
  return true;
}

/** Reads what ByteWriter wrote; malformed input throws StoreSnapshotError. */
export class ByteReader {
  private offset = 0;

  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.offset === this.bytes.length;
  }

  u8(): number {
    const byte = this.bytes[this.offset];
    if (byte === undefined) throw new StoreSnapshotError("truncated chunk");
    this.offset++;
    return byte;
  }

  /** An unsigned LEB128 varint that must fit a safe integer. */
  uint(): number {
    let value = 0;
    let scale = 1;
    for (let index = 0; index < 8; index++) {
      const byte = this.u8();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (!Number.isSafeInteger(value)) throw new StoreSnapshotError("varint exceeds the safe integer range");
        return value;
      }
      scale *= 0x80;
    }
    throw new StoreSnapshotError("varint too long");
  }

  u32(): number {
    const value = this.u8() | (this.u8() << 8) | (this.u8() << 16) | (this.u8() << 24);
    return value >>> 0;
  }

  /** Length-prefixed bytes, copied so the caller's chunk buffer may be reused. */
  blob(): Uint8Array {
    const length = this.uint();
    if (this.offset + length > this.bytes.length) throw new StoreSnapshotError("truncated bytes field");
    const copy = this.bytes.slice(this.offset, this.offset + length);
    this.offset += length;
    return copy;
  }

  /** Length-prefixed UTF-8. */
  text(): string {
    const length = this.uint();
    if (this.offset + length > this.bytes.length) throw new StoreSnapshotError("truncated text field");
    const view = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    if (length <= ASCII_FAST_PATH_BYTES_MAX && isAscii(view)) return String.fromCharCode(...view);
    try {
      return decoder.decode(view);
    } catch {
      throw new StoreSnapshotError("text field is not valid UTF-8");
    }
  }
}
