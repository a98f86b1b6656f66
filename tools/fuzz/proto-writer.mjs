// A minimal protobuf wire writer for hand-made (often deliberately malformed) messages:
// any field number, any wire type, overlong and truncated varints, raw bytes.

export const WIRE = { VARINT: 0, I64: 1, LEN: 2, SGROUP: 3, EGROUP: 4, I32: 5 };

const utf8 = new TextEncoder();

export class ProtoWriter {
  constructor() {
    /** @type {Uint8Array[]} */
    this.parts = [];
    /** @type {number[]} small writes gather here until the next bulk write */
    this.pending = [];
    this.size = 0;
  }

  push(byte) {
    this.pending.push(byte);
    this.size++;
  }

  flush() {
    if (this.pending.length) {
      this.parts.push(Uint8Array.from(this.pending));
      this.pending = [];
    }
  }

  /** A base-128 varint of any non-negative value; negative values as 64-bit two's complement. */
  varint(value) {
    let v = BigInt(value);
    if (v < 0n) v = BigInt.asUintN(64, v);
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) byte |= 0x80;
      this.push(byte);
    } while (v > 0n);
    return this;
  }

  /** A varint padded with continuation bytes to `length` bytes (valid up to 10 bytes, overlong beyond). */
  overlongVarint(value, length) {
    let v = BigInt.asUintN(64, BigInt(value));
    for (let i = 0; i < length - 1; i++) {
      this.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.push(Number(v & 0x7fn));
    return this;
  }

  tag(field, wire) {
    return this.varint((BigInt(field) << 3n) | BigInt(wire));
  }

  uint(field, value) {
    return this.tag(field, WIRE.VARINT).varint(value);
  }

  bool(field, value) {
    return this.uint(field, value ? 1 : 0);
  }

  /** A length-delimited field holding bytes, a string (UTF-8) or a nested writer. */
  bytes(field, value) {
    const data = value instanceof ProtoWriter ? value.finish() : typeof value === "string" ? utf8.encode(value) : value;
    this.tag(field, WIRE.LEN).varint(data.length);
    return this.raw(data);
  }

  fixed64(field, value) {
    this.tag(field, WIRE.I64);
    let v = BigInt.asUintN(64, BigInt(value));
    for (let i = 0; i < 8; i++) {
      this.push(Number(v & 0xffn));
      v >>= 8n;
    }
    return this;
  }

  fixed32(field, value) {
    this.tag(field, WIRE.I32);
    const v = value >>> 0;
    this.push(v & 0xff);
    this.push((v >>> 8) & 0xff);
    this.push((v >>> 16) & 0xff);
    this.push((v >>> 24) & 0xff);
    return this;
  }

  raw(data) {
    const bytes = data instanceof Uint8Array ? data : Uint8Array.from(data);
    if (bytes.length < 64) {
      for (const b of bytes) this.push(b);
      return this;
    }
    this.flush();
    this.parts.push(bytes);
    this.size += bytes.length;
    return this;
  }

  get length() {
    return this.size;
  }

  finish() {
    this.flush();
    if (this.parts.length === 1) return this.parts[0];
    const out = new Uint8Array(this.size);
    let offset = 0;
    for (const p of this.parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  }
}
