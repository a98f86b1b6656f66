import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { StoreAssertionError } from "./assert.js";
import { ENTRY_OVERHEAD_BYTES, entryBytes, utf8Length } from "./entry-bytes.js";

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
    expect(entryBytes(key, new Uint8Array(5))).toBe(length + 5 + ENTRY_OVERHEAD_BYTES);
  });

  it("matches TextEncoder on well-formed strings", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (key) => {
        expect(utf8Length(key)).toBe(new TextEncoder().encode(key).length);
      }),
    );
  });

  it.each(["\ud800", "a\udc00", "\ud800\ud800", "x\ud83d"])("rejects the lone surrogate in %j", (key) => {
    expect(() => utf8Length(key)).toThrow(StoreAssertionError);
  });
});
