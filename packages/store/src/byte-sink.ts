import { assert } from "./assert.js";

/**
 * Where the canonical encoding of a store goes: a buffer (snapshot chunks) or a hash
 * (digest). Both see the same sequence of fields, so the digest covers exactly what a
 * snapshot carries.
 */
export abstract class ByteSink {
  abstract u8(byte: number): void;
  protected abstract raw(bytes: Uint8Array): void;
  abstract text(value: string): void;

  /** An unsigned LEB128 varint of a safe integer (7 bits per byte, low first). */
  uint(value: number): void {
    assert(Number.isSafeInteger(value) && value >= 0, "ByteSink.uint: not a non-negative safe integer");
    let rest = value;
    // Division, not bit operators: values exceed 32 bits (revisions, Unix ms).
    while (rest >= 0x80) {
      this.u8((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    this.u8(rest);
  }

  /** A fixed-width little-endian uint32. */
  u32(value: number): void {
    this.u8(value & 0xff);
    this.u8((value >>> 8) & 0xff);
    this.u8((value >>> 16) & 0xff);
    this.u8((value >>> 24) & 0xff);
  }

  /** Length-prefixed bytes. */
  blob(bytes: Uint8Array): void {
    this.uint(bytes.length);
    this.raw(bytes);
  }

  /** Bytes as they are, without a length. */
  bytes(bytes: Uint8Array): void {
    this.raw(bytes);
  }
}

const encoder = new TextEncoder();

/** A growable byte buffer. */
export class ByteWriter extends ByteSink {
  private buffer: Uint8Array;
  private length = 0;

  constructor(capacityBytes = 1024) {
    super();
    this.buffer = new Uint8Array(Math.max(16, capacityBytes));
  }

  u8(byte: number): void {
    if (this.length === this.buffer.length) this.grow(1);
    this.buffer[this.length++] = byte;
  }

  /** Length-prefixed UTF-8 (keys are mostly ASCII: those skip the encoder's allocation). */
  text(value: string): void {
    if (!isAscii(value)) {
      this.blob(encoder.encode(value));
      return;
    }
    this.uint(value.length);
    this.grow(value.length);
    for (let index = 0; index < value.length; index++) this.buffer[this.length++] = value.charCodeAt(index);
  }

  get lengthBytes(): number {
    return this.length;
  }

  /** The bytes written so far (a copy sized to fit). */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }

  protected raw(bytes: Uint8Array): void {
    this.grow(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  private grow(extraBytes: number): void {
    if (this.length + extraBytes <= this.buffer.length) return;
    const next = new Uint8Array(Math.max(this.buffer.length * 2, this.length + extraBytes));
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
  }
}

/**
 * A non-cryptographic 64-bit streaming hash for replica digests: two independent
 * 32-bit multiplicative lanes over the byte stream, each finished with the murmur3
 * fmix32 avalanche. It detects divergence between replicas; it is no defence against
 * an adversary.
 */
export class DigestHasher extends ByteSink {
  private laneA = 0x811c9dc5;
  private laneB = 0x2b7e1516;
  private length = 0;

  u8(byte: number): void {
    this.laneA = Math.imul(this.laneA ^ byte, 0x01000193);
    const mixed = Math.imul(this.laneB ^ byte, 0x5bd1e995);
    this.laneB = mixed ^ (mixed >>> 15);
    this.length++;
  }

  /** Length-prefixed UTF-16 code units: canonical without encoding the string. */
  text(value: string): void {
    this.uint(value.length);
    // The lanes of u8, inlined with locals: hashing is most of the cost of snapshots and digests.
    let a = this.laneA;
    let b = this.laneB;
    for (let index = 0; index < value.length; index++) {
      const unit = value.charCodeAt(index);
      const low = unit & 0xff;
      const high = unit >>> 8;
      a = Math.imul(a ^ low, 0x01000193);
      let mixed = Math.imul(b ^ low, 0x5bd1e995);
      b = mixed ^ (mixed >>> 15);
      a = Math.imul(a ^ high, 0x01000193);
      mixed = Math.imul(b ^ high, 0x5bd1e995);
      b = mixed ^ (mixed >>> 15);
    }
    this.laneA = a;
    this.laneB = b;
    this.length += 2 * value.length;
  }

  /** 16 lowercase hex digits. */
  hex(): string {
    const lengthLow = this.length >>> 0;
    const a = finalMix(this.laneA ^ lengthLow);
    const b = finalMix(this.laneB ^ Math.imul(lengthLow, 0x9e3779b9) ^ a);
    return a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0");
  }

  protected raw(bytes: Uint8Array): void {
    let a = this.laneA;
    let b = this.laneB;
    for (let index = 0; index < bytes.length; index++) {
      const byte = bytes[index] as number;
      a = Math.imul(a ^ byte, 0x01000193);
      const mixed = Math.imul(b ^ byte, 0x5bd1e995);
      b = mixed ^ (mixed >>> 15);
    }
    this.laneA = a;
    this.laneB = b;
    this.length += bytes.length;
  }
}

function isAscii(value: string): boolean {
  for (let index = 0; index < value.length; index++) if (value.charCodeAt(index) >= 0x80) return false;
  return true;
}

function finalMix(word: number): number {
  let mixed = word;
  mixed = Math.imul(mixed ^ (mixed >>> 16), 0x85ebca6b);
  mixed = Math.imul(mixed ^ (mixed >>> 13), 0xc2b2ae35);
  return (mixed ^ (mixed >>> 16)) >>> 0;
}
