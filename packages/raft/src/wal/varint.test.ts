import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ByteReader, RecordDecodeError } from "./byte-reader.js";
import { VARINT_BYTES_MAX, varintBytes, writeVarint } from "../varint.js";

function roundTrip(value: number): { bytes: number; decoded: number } {
  const buffer = new Uint8Array(VARINT_BYTES_MAX);
  const end = writeVarint(buffer, 0, value);
  const reader = new ByteReader(buffer, 0, end);
  return { bytes: end, decoded: reader.varint() };
}

describe("varint", () => {
  it.each([0, 1, 127, 128, 300, 16_383, 16_384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 49, Number.MAX_SAFE_INTEGER])(
    "round-trips %d in varintBytes() bytes",
    (value) => {
      const { bytes, decoded } = roundTrip(value);
      expect(decoded).toBe(value);
      expect(bytes).toBe(varintBytes(value));
    },
  );

  it("round-trips any safe integer", () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (value) => {
        const { bytes, decoded } = roundTrip(value);
        return decoded === value && bytes === varintBytes(value) && bytes <= VARINT_BYTES_MAX;
      }),
    );
  });

  it.each<[string, number[]]>([
    ["a truncated varint", [0x80, 0x80]],
    ["an empty input", []],
    ["more than 8 bytes", [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]],
    ["a value past 2^53 - 1", [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]],
  ])("rejects %s", (_name, bytes) => {
    const reader = new ByteReader(new Uint8Array(bytes), 0, bytes.length);
    expect(() => reader.varint()).toThrow(RecordDecodeError);
  });

  it("never reads past the end it was given", () => {
    const reader = new ByteReader(new Uint8Array([0x05, 0x07]), 0, 1);
    expect(reader.varint()).toBe(5);
    expect(() => reader.u8()).toThrow(RecordDecodeError);
    expect(() => reader.bytesView(1)).toThrow(RecordDecodeError);
  });
});
