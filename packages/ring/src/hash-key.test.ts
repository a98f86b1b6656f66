import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeUtf8Into, hashKey, hashKeyBytes } from "./hash-key.js";
import { xxHash64 } from "./xxhash64.js";

const encoder = new TextEncoder();

/** Any sequence of UTF-16 code units, lone surrogates included. */
const anyUtf16 = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }).map((units) => String.fromCharCode(...units));

describe("encodeUtf8Into", () => {
  it.each([
    ["ascii", "user:42"],
    ["two-byte", "ключ"],
    ["three-byte", "鍵"],
    ["surrogate pair", "🙂"],
    ["lone high surrogate", "a\ud800b"],
    ["lone low surrogate", "\udc00"],
    ["high surrogate at end", "x\ud83d"],
    ["reversed pair", "\ude42\ud83d"],
  ])("matches TextEncoder for %s", (_, text) => {
    const target = new Uint8Array(text.length * 3);
    const length = encodeUtf8Into(text, target);
    expect(target.subarray(0, length)).toEqual(encoder.encode(text));
  });

  it("matches TextEncoder for arbitrary UTF-16", () => {
    fc.assert(
      fc.property(fc.oneof(anyUtf16, fc.string({ unit: "binary" })), (text) => {
        const target = new Uint8Array(text.length * 3);
        const length = encodeUtf8Into(text, target);
        expect(target.subarray(0, length)).toEqual(encoder.encode(text));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("hashKey", () => {
  it("is XXH64 of the key's UTF-8 bytes", () => {
    fc.assert(
      fc.property(anyUtf16, (key) => {
        expect(hashKey(key)).toEqual(xxHash64(encoder.encode(key)));
        expect(hashKeyBytes(encoder.encode(key))).toEqual(hashKey(key));
      }),
      { numRuns: 1000 },
    );
  });

  it("hashes keys longer than the reused buffer the same way", () => {
    const key = "k🙂".repeat(10_000);
    expect(hashKey(key)).toEqual(xxHash64(encoder.encode(key)));
    // And the short-key buffer still works afterwards.
    expect(hashKey("a")).toEqual({ hi: 0xd24ec4f1, lo: 0xa98c6e5b });
  });

  it("pins key positions (golden)", () => {
    expect(hashKey("")).toEqual({ hi: 0xef46db37, lo: 0x51d8e999 });
    expect(hashKey("abc")).toEqual({ hi: 0x44bc2cf5, lo: 0xad770999 });
  });

  // A loose guard against an accidental slow path (e.g. BigInt or per-step
  // allocation); measured ~0.2 µs on the dev machine, target well under 1 µs.
  it("hashes a 16-byte key in about a microsecond or less", () => {
    const keys = Array.from({ length: 1024 }, (_, index) => `user:${String(index).padStart(11, "0")}`);
    let sink = 0;
    const iterations = 200_000;
    for (let index = 0; index < 20_000; index++) sink ^= hashKey(keys[index & 1023]!).lo;
    const startMs = performance.now();
    for (let index = 0; index < iterations; index++) sink ^= hashKey(keys[index & 1023]!).lo;
    const perCallUs = ((performance.now() - startMs) * 1000) / iterations;
    expect(sink).not.toBeNaN();
    expect(perCallUs).toBeLessThan(2);
  });
});
