/**
 * Splits a byte stream into length-prefixed frames (u32 little-endian length, then the
 * payload). A frame above frameBytesMax is a protocol violation, reported by throwing.
 */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes needed before the next frame can complete: its length prefix, then the whole frame. */
  private needed = 4;

  constructor(private readonly frameBytesMax: number) {}

  /** True while bytes of an unfinished frame (or length prefix) are buffered. */
  get partial(): boolean {
    return this.pendingBytes > 0;
  }

  /** Feeds bytes and returns every complete frame they finish. */
  push(chunk: Buffer): Buffer[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    // A large frame arrives in many chunks: join them once, when it is complete.
    if (this.pendingBytes < this.needed) return [];
    let buffer = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    const frames: Buffer[] = [];
    let offset = 0;
    while (buffer.length - offset >= 4) {
      const length = buffer.readUInt32LE(offset);
      if (length > this.frameBytesMax) throw new RangeError(`peer frame of ${length} bytes exceeds frame_bytes_max ${this.frameBytesMax}`);
      if (buffer.length - offset - 4 < length) break;
      frames.push(buffer.subarray(offset + 4, offset + 4 + length));
      offset += 4 + length;
    }
    buffer = buffer.subarray(offset);
    this.pending = buffer.length > 0 ? [buffer] : [];
    this.pendingBytes = buffer.length;
    // (the loop above already refused a prefix above frameBytesMax)
    this.needed = buffer.length >= 4 ? 4 + buffer.readUInt32LE(0) : 4;
    return frames;
  }
}

/** Encodes messages as consecutive frames in one buffer, so a batch is one socket write. */
export function encodeFrames(messages: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const m of messages) total += 4 + m.length;
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const m of messages) {
    out.writeUInt32LE(m.length, offset);
    out.set(m, offset + 4);
    offset += 4 + m.length;
  }
  return out;
}
