import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CommandSchema, type Command, type DeleteOp, type IncrOp, type Noop, type SetOp } from "@distcache/proto/raft";

/**
 * A hand-written codec for distcache.raft.v1.Command (proto/distcache/raft/v1/command.proto)
 * for the commands nearly every entry holds: a Set, Delete, Incr or Noop. Every replica
 * decodes every entry and the leader encodes each, and the reflective generic codec was
 * the larger part of both. It writes the same bytes as the generated code (fields in
 * number order, defaults omitted; tests compare both byte for byte) and reads them back
 * as the same message. Anything else (the other operations, unknown or repeated fields,
 * strings that are not well formed) goes to the generated codec, so what this code does
 * not handle is decoded exactly as before.
 */

export type CommandFields = Pick<Command, "stampMs" | "sessionId" | "sequence" | "ackedSequence" | "sessionStartedMs" | "op">;

/** The command's binary protobuf encoding. */
export function encodeCommand(command: CommandFields): Uint8Array {
  return encodeHandled(command) ?? toBinary(CommandSchema, create(CommandSchema, command));
}

/** The command in an entry's bytes, or undefined when they are not one. */
export function decodeCommand(bytes: Uint8Array): Command | undefined {
  const handled = decodeHandled(bytes);
  if (handled) return handled;
  try {
    return fromBinary(CommandSchema, bytes);
  } catch {
    return undefined;
  }
}

/** A lone surrogate, which UTF-8 cannot carry (the encoder would write U+FFFD in its place). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const wellFormed = (s: string): boolean => !LONE_SURROGATE.test(s);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const isInt64 = (v: bigint): boolean => v >= INT64_MIN && v <= INT64_MAX;
const isUint64 = (v: bigint): boolean => v >= 0n && v <= UINT64_MAX;

const VARINT = 0;
const LEN = 2;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

function varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

/** Bytes of a 64-bit integer's varint: negative ones take all ten, as two's complement. */
function varint64Bytes(v: bigint): number {
  if (v >= 0n && v <= MAX_SAFE) return varintBytes(Number(v));
  let x = BigInt.asUintN(64, v);
  let bytes = 1;
  while (x >= 0x80n) {
    x >>= 7n;
    bytes++;
  }
  return bytes;
}

const stringField = (s: string, bytes: number): number => (s === "" ? 0 : 1 + varintBytes(bytes) + bytes);
const int64Field = (v: bigint): number => (v === 0n ? 0 : 1 + varint64Bytes(v));

class Writer {
  readonly out: Uint8Array;
  pos = 0;

  constructor(size: number) {
    this.out = new Uint8Array(size);
  }

  tag(field: number, wireType: number): void {
    this.out[this.pos++] = (field << 3) | wireType;
  }

  varint(n: number): void {
    while (n >= 0x80) {
      this.out[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.out[this.pos++] = n;
  }

  varint64(v: bigint): void {
    if (v >= 0n && v <= MAX_SAFE) return this.varint(Number(v));
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      this.out[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.out[this.pos++] = Number(x);
  }

  int64Field(field: number, v: bigint): void {
    if (v === 0n) return;
    this.tag(field, VARINT);
    this.varint64(v);
  }

  stringField(field: number, s: string, bytes: number): void {
    if (s === "") return;
    this.tag(field, LEN);
    this.varint(bytes);
    this.pos += utf8.encodeInto(s, this.out.subarray(this.pos)).written;
  }
}

/** The command, when this codec reads it itself; undefined leaves the bytes to the generated codec. */
export function decodeHandled(bytes: Uint8Array): Command | undefined {
  try {
    return new Reader(bytes).command();
  } catch {
    // A read past the end, or a string that is not UTF-8: the generated codec decides.
    return undefined;
  }
}

/** The encoding of a command this codec handles, or undefined for the generated codec. */
export function encodeHandled(command: CommandFields): Uint8Array | undefined {
  const { op } = command;
  if (!wellFormed(command.sessionId) || !isInt64(command.stampMs)) return undefined;
  if (!isUint64(command.sequence) || !isUint64(command.ackedSequence) || !isUint64(command.sessionStartedMs)) return undefined;
  const sessionBytes = Buffer.byteLength(command.sessionId, "utf8");
  let opSize: number;
  let keyBytes = 0;
  switch (op.case) {
    case "set":
    case "delete":
    case "incr":
      if (!wellFormed(op.value.key)) return undefined;
      keyBytes = Buffer.byteLength(op.value.key, "utf8");
      opSize = opBytes(op, keyBytes);
      break;
    case "noop":
      if (!Number.isInteger(op.value.sweepRounds) || op.value.sweepRounds < 0 || op.value.sweepRounds > 0xffffffff) return undefined;
      opSize = op.value.sweepRounds === 0 ? 0 : 1 + varintBytes(op.value.sweepRounds);
      break;
    default:
      return undefined;
  }
  if (opSize < 0) return undefined;
  const size =
    int64Field(command.stampMs) +
    stringField(command.sessionId, sessionBytes) +
    int64Field(command.sequence) +
    int64Field(command.ackedSequence) +
    int64Field(command.sessionStartedMs) +
    (1 + varintBytes(opSize) + opSize);
  const w = new Writer(size);
  w.int64Field(1, command.stampMs);
  w.stringField(2, command.sessionId, sessionBytes);
  w.int64Field(3, command.sequence);
  w.int64Field(4, command.ackedSequence);
  w.int64Field(5, command.sessionStartedMs);
  w.tag(OP_FIELD[op.case], LEN);
  w.varint(opSize);
  writeOp(w, op, keyBytes);
  return w.pos === size ? w.out : undefined;
}

const OP_FIELD = { noop: 10, set: 11, delete: 12, incr: 13 } as const;

type FastOp = Extract<Command["op"], { case: "set" | "delete" | "incr" | "noop" }>;

/** A Set, Delete or Incr's encoded size; -1 when a field holds what the generated codec would write differently. */
function opBytes(op: Exclude<FastOp, { case: "noop" }>, keyBytes: number): number {
  const key = stringField(op.value.key, keyBytes);
  if (op.case === "delete") return key;
  if (op.case === "incr") return isInt64(op.value.delta) ? key + int64Field(op.value.delta) : -1;
  const set = op.value;
  if (!Number.isInteger(set.condition) || set.condition < 0 || set.condition > 0x7f) return -1;
  if (!isInt64(set.ttlMs) || !isUint64(set.expectedVersion)) return -1;
  const value = set.value.byteLength === 0 ? 0 : 1 + varintBytes(set.value.byteLength) + set.value.byteLength;
  return key + value + (set.text ? 2 : 0) + int64Field(set.ttlMs) + (set.condition === 0 ? 0 : 2) + int64Field(set.expectedVersion);
}

function writeOp(w: Writer, op: FastOp, keyBytes: number): void {
  if (op.case === "noop") {
    if (op.value.sweepRounds !== 0) {
      w.tag(1, VARINT);
      w.varint(op.value.sweepRounds);
    }
    return;
  }
  w.stringField(1, op.value.key, keyBytes);
  if (op.case === "incr") return w.int64Field(2, op.value.delta);
  if (op.case === "delete") return;
  const set = op.value;
  if (set.value.byteLength > 0) {
    w.tag(2, LEN);
    w.varint(set.value.byteLength);
    w.out.set(set.value, w.pos);
    w.pos += set.value.byteLength;
  }
  if (set.text) {
    w.tag(3, VARINT);
    w.out[w.pos++] = 1;
  }
  w.int64Field(4, set.ttlMs);
  if (set.condition !== 0) {
    w.tag(5, VARINT);
    w.out[w.pos++] = set.condition;
  }
  w.int64Field(6, set.expectedVersion);
}

/** Thrown inside the reader for input it leaves to the generated codec. */
const UNHANDLED = new Error("not handled by the hand-written command codec");

class Reader {
  private pos = 0;

  constructor(private readonly input: Uint8Array) {}

  private byte(): number {
    if (this.pos >= this.input.length) throw UNHANDLED;
    return this.input[this.pos++]!;
  }

  /** A varint of up to 64 bits, as the unsigned value's bits. */
  private varint64(): bigint {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      const b = this.byte();
      n += (b & 0x7f) * scale;
      if (b < 0x80) return BigInt(n);
      scale *= 128;
    }
    // Longer than 49 bits: the rest in bigint, at most ten bytes and 64 bits in all.
    let x = BigInt(n);
    let shift = 49n;
    for (let i = 7; i < 10; i++) {
      const b = this.byte();
      if (i === 9 && b > 1) throw UNHANDLED;
      x |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return x;
      shift += 7n;
    }
    throw UNHANDLED;
  }

  /**
   * A tag, a length or a uint32 field: at most five bytes and 32 bits. The generated
   * codec reads longer varints in some of these places and refuses them in others, so
   * they are left to it.
   */
  private uint32(): number {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      n += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (n > 0xffffffff) throw UNHANDLED;
        return n;
      }
      scale *= 128;
    }
    throw UNHANDLED;
  }

  private end(length: number): number {
    const end = this.pos + length;
    if (end > this.input.length) throw UNHANDLED;
    return end;
  }

  private bytes(): Uint8Array {
    const end = this.end(this.uint32());
    const out = this.input.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  private string(): string {
    return utf8Strict.decode(this.bytes());
  }

  /** Reads fields until `end`: each known field once, with its wire type, else UNHANDLED. */
  private fields(end: number, read: (field: number) => void): void {
    let seen = 0;
    while (this.pos < end) {
      const tag = this.uint32();
      const field = tag >>> 3;
      if (field >= 31 || seen & (1 << field)) throw UNHANDLED;
      seen |= 1 << field;
      read(tag);
    }
    if (this.pos !== end) throw UNHANDLED;
  }

  command(): Command | undefined {
    const command: Command = {
      $typeName: "distcache.raft.v1.Command",
      stampMs: 0n,
      sessionId: "",
      sequence: 0n,
      ackedSequence: 0n,
      sessionStartedMs: 0n,
      op: { case: undefined },
    };
    let ops = 0;
    this.fields(this.input.length, (tag) => {
      switch (tag) {
        case (1 << 3) | VARINT:
          return void (command.stampMs = BigInt.asIntN(64, this.varint64()));
        case (2 << 3) | LEN:
          return void (command.sessionId = this.string());
        case (3 << 3) | VARINT:
          return void (command.sequence = this.varint64());
        case (4 << 3) | VARINT:
          return void (command.ackedSequence = this.varint64());
        case (5 << 3) | VARINT:
          return void (command.sessionStartedMs = this.varint64());
        case (10 << 3) | LEN:
        case (11 << 3) | LEN:
        case (12 << 3) | LEN:
        case (13 << 3) | LEN:
          ops++;
          return void (command.op = this.op(tag >>> 3));
        default:
          throw UNHANDLED;
      }
    });
    return ops <= 1 ? command : undefined;
  }

  private op(field: number): Command["op"] {
    const end = this.end(this.uint32());
    if (field === 10) {
      const value: Noop = { $typeName: "distcache.raft.v1.Noop", sweepRounds: 0 };
      this.fields(end, (tag) => {
        if (tag !== ((1 << 3) | VARINT)) throw UNHANDLED;
        value.sweepRounds = this.uint32();
      });
      return { case: "noop", value };
    }
    if (field === 12) {
      const value: DeleteOp = { $typeName: "distcache.raft.v1.DeleteOp", key: "" };
      this.fields(end, (tag) => {
        if (tag !== ((1 << 3) | LEN)) throw UNHANDLED;
        value.key = this.string();
      });
      return { case: "delete", value };
    }
    if (field === 13) {
      const value: IncrOp = { $typeName: "distcache.raft.v1.IncrOp", key: "", delta: 0n };
      this.fields(end, (tag) => {
        if (tag === ((1 << 3) | LEN)) value.key = this.string();
        else if (tag === ((2 << 3) | VARINT)) value.delta = BigInt.asIntN(64, this.varint64());
        else throw UNHANDLED;
      });
      return { case: "incr", value };
    }
    return { case: "set", value: this.setOp(end) };
  }

  private setOp(end: number): SetOp {
    const value: SetOp = {
      $typeName: "distcache.raft.v1.SetOp",
      key: "",
      value: new Uint8Array(0),
      text: false,
      ttlMs: 0n,
      condition: 0,
      expectedVersion: 0n,
    };
    this.fields(end, (tag) => {
      switch (tag) {
        case (1 << 3) | LEN:
          return void (value.key = this.string());
        case (2 << 3) | LEN:
          return void (value.value = this.bytes());
        case (3 << 3) | VARINT:
          return void (value.text = this.varint64() !== 0n);
        case (4 << 3) | VARINT:
          return void (value.ttlMs = BigInt.asIntN(64, this.varint64()));
        case (5 << 3) | VARINT: {
          // An enum is an int32: a value that is not one is the generated codec's to read.
          const condition = this.varint64();
          if (condition > 0x7fffffffn) throw UNHANDLED;
          return void (value.condition = Number(condition));
        }
        case (6 << 3) | VARINT:
          return void (value.expectedVersion = this.varint64());
        default:
          throw UNHANDLED;
      }
    });
    return value;
  }
}
