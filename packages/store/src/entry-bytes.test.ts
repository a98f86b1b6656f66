import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { StoreAssertionError } from "./assert.js";
import { ENTRY_MEMORY_OVERHEAD_BYTES, entryBytes, isWellFormedKey, utf8Length } from "./entry-bytes.js";

describe("entryBytes", () => {
  it.each([
    ["", 0],
    ["abc", 3],
    ["é", 2],
    ["€", 3],
    ["😀", 4],
    ["a😀é", 7],
  ])("utf8Length(%j) = %i", (key, length) => {
    expect(utf8Length(key)).toBe(length);
    expect(entryBytes(key, new Uint8Array(5))).toBe(length + 5 + ENTRY_MEMORY_OVERHEAD_BYTES);
  });

  it("matches TextEncoder on well-formed strings", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (key) => {
        expect(utf8Length(key)).toBe(new TextEncoder().encode(key).length);
      }),
    );
  });

  it.each(["\ud800", "a\udc00", "\ud800\ud800", "x\ud83d", "\udc00\ud800"])("rejects the lone surrogate in %j", (key) => {
    expect(isWellFormedKey(key)).toBe(false);
    expect(() => utf8Length(key)).toThrow(StoreAssertionError);
  });

  it("isWellFormedKey accepts every string TextEncoder round-trips", () => {
    // Code units drawn near the surrogate range, so lone halves are common.
    const unit = fc.oneof(fc.integer({ min: 0xd7f0, max: 0xe00f }), fc.integer({ min: 0, max: 0xffff })).map((code) => String.fromCharCode(code));
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 20 }), (key) => {
        expect(isWellFormedKey(key)).toBe(new TextDecoder().decode(new TextEncoder().encode(key)) === key);
      }),
    );
  });
});
