import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { CommandSchema, type Command } from "@distcache/proto/raft";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeCommand, decodeHandled, encodeCommand, encodeHandled } from "./command-codec.js";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** Mostly small values, as real commands hold, and now and then the extremes. */
const int64 = fc.oneof(fc.constant(0n), fc.bigInt({ min: -1000n, max: 10n ** 13n }), fc.bigInt({ min: INT64_MIN, max: INT64_MAX }));
const uint64 = fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 10n ** 6n }), fc.bigInt({ min: 0n, max: UINT64_MAX }));
// Any UTF-16, lone surrogates included, and plain keys.
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.string({ unit: fc.constantFrom("\ud800", "\udc00", "a"), maxLength: 4 }),
);

const setOp = fc.record({
  key: text,
  value: fc.uint8Array({ maxLength: 300 }),
  text: fc.boolean(),
  ttlMs: int64,
  condition: fc.oneof(fc.constantFrom(0, 1, 2), fc.integer({ min: 0, max: 300 })),
  expectedVersion: uint64,
});

const op = fc.oneof(
  { weight: 4, arbitrary: setOp.map((value) => ({ case: "set" as const, value })) },
  { weight: 2, arbitrary: fc.record({ key: text }).map((value) => ({ case: "delete" as const, value })) },
  { weight: 2, arbitrary: fc.record({ key: text, delta: int64 }).map((value) => ({ case: "incr" as const, value })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ sweepRounds: fc.oneof(fc.constant(0), fc.nat(), fc.integer({ min: 0, max: 0xffffffff })) })
      .map((value) => ({ case: "noop" as const, value })),
  },
  // Handled by the generated codec: still encoded and decoded as the generated code does.
  { weight: 1, arbitrary: fc.record({ keys: fc.array(text, { maxLength: 3 }) }).map((value) => ({ case: "mdelete" as const, value })) },
  { weight: 1, arbitrary: fc.record({ items: fc.array(setOp, { maxLength: 2 }) }).map((value) => ({ case: "mset" as const, value })) },
  { weight: 1, arbitrary: fc.constant({ case: undefined }) },
);

const command = fc.record({ stampMs: int64, sessionId: text, sequence: uint64, ackedSequence: uint64, sessionStartedMs: uint64, op });

/** What the generated codec does with a command: its bytes, or that it throws. */
function reference(init: MessageInitShape<typeof CommandSchema>): Uint8Array | "throws" {
  try {
    return toBinary(CommandSchema, create(CommandSchema, init));
  } catch {
    return "throws";
  }
}

function referenceDecode(bytes: Uint8Array): Command | undefined {
  try {
    return fromBinary(CommandSchema, bytes);
  } catch {
    return undefined;
  }
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("the command codec", () => {
  it("writes the bytes the generated code writes, and reads back the message it reads", () => {
    fc.assert(
      fc.property(command, (init) => {
        const full = create(CommandSchema, init as MessageInitShape<typeof CommandSchema>);
        const expected = reference(full);
        if (expected === "throws") {
          expect(() => encodeCommand(full)).toThrow();
          return;
        }
        const bytes = encodeCommand(full);
        expect(hex(bytes)).toBe(hex(expected));
        expect(decodeCommand(bytes)).toEqual(referenceDecode(bytes));
      }),
      { numRuns: 3000 },
    );
  });

  it("reads any bytes as the generated code does: the same command, or none", () => {
    const valid = command.map((init) => reference(init as MessageInitShape<typeof CommandSchema>)).filter((b): b is Uint8Array => b !== "throws");
    // Valid encodings cut, flipped, spliced or repeated, and plain noise.
    const mutated = fc.oneof(
      fc.tuple(valid, fc.nat()).map(([b, at]) => b.subarray(0, at % (b.length + 1))),
      fc.tuple(valid, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([b, at, v]) => {
        const out = Uint8Array.from(b);
        if (out.length > 0) out[at % out.length] = v;
        return out;
      }),
      fc.tuple(valid, valid).map(([a, b]) => Uint8Array.from([...a, ...b])),
      // Overlong varints: a byte's continuation bit set and zero bytes inserted after it,
      // so a tag, a length or a value takes more bytes than it needs.
      fc.tuple(valid, fc.nat(), fc.integer({ min: 1, max: 6 })).map(([b, at, extra]) => {
        if (b.length === 0) return b;
        const i = at % b.length;
        const padding = [...Array.from({ length: extra - 1 }, () => 0x80), 0x00];
        return Uint8Array.from([...b.subarray(0, i), b[i]! | 0x80, ...padding, ...b.subarray(i + 1)]);
      }),
      fc.uint8Array({ maxLength: 40 }),
    );
    fc.assert(
      fc.property(mutated, (bytes) => {
        expect(decodeCommand(bytes)).toEqual(referenceDecode(bytes));
      }),
      { numRuns: 5000 },
    );
  });

  it("handles every Set, Delete, Incr and Noop with well-formed strings itself, both ways", () => {
    const wellFormed = fc.string({ maxLength: 40 });
    const common = fc.record({
      stampMs: int64,
      sessionId: wellFormed,
      sequence: uint64,
      ackedSequence: uint64,
      sessionStartedMs: uint64,
      op: fc.oneof(
        setOp.map((value) => ({ case: "set" as const, value: { ...value, key: value.key.replace(/[\ud800-\udfff]/g, "x"), condition: value.condition % 3 } })),
        fc.record({ key: wellFormed }).map((value) => ({ case: "delete" as const, value })),
        fc.record({ key: wellFormed, delta: int64 }).map((value) => ({ case: "incr" as const, value })),
        fc.record({ sweepRounds: fc.nat() }).map((value) => ({ case: "noop" as const, value })),
      ),
    });
    fc.assert(
      fc.property(common, (init) => {
        const full = create(CommandSchema, init);
        const bytes = encodeHandled(full);
        expect(bytes).toBeDefined();
        expect(decodeHandled(bytes!)).toEqual(full);
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses what is not a command: a truncated entry, invalid UTF-8 in a key", () => {
    const bytes = encodeCommand(create(CommandSchema, { stampMs: 5n, op: { case: "set", value: { key: "k", value: new Uint8Array([1, 2]) } } }));
    expect(decodeCommand(bytes.subarray(0, bytes.length - 1))).toBeUndefined();
    const badKey = encodeCommand(create(CommandSchema, { op: { case: "delete", value: { key: "ab" } } }));
    badKey[badKey.length - 1] = 0xff;
    expect(decodeCommand(badKey)).toBeUndefined();
    // A tag in six bytes, which the generated codec refuses ("varint overflows uint32").
    expect(decodeCommand(Uint8Array.from([0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x05]))).toBeUndefined();
  });
});
