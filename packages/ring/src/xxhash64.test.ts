import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { xxHash64 } from "./xxhash64.js";

// A slow, independent reference: XXH64 written directly from the specification
// with BigInt, sharing no code with the 32-bit-halves implementation.
const MASK = (1n << 64n) - 1n;
const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;

const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & MASK;
const roundRef = (acc: bigint, lane: bigint): bigint => (rotl((acc + lane * P2) & MASK, 31n) * P1) & MASK;
const mergeRef = (acc: bigint, value: bigint): bigint => ((acc ^ roundRef(0n, value)) * P1 + P4) & MASK;

function readLe(bytes: Uint8Array, at: number, count: number): bigint {
  let value = 0n;
  for (let index = count - 1; index >= 0; index--) value = (value << 8n) | BigInt(bytes[at + index]!);
  return value;
}

function referenceXxh64(bytes: Uint8Array, seed = 0n): bigint {
  let at = 0;
  let h: bigint;
  if (bytes.length >= 32) {
    const v = [(seed + P1 + P2) & MASK, (seed + P2) & MASK, seed, (seed - P1) & MASK];
    for (; at + 32 <= bytes.length; at += 32) {
      for (let lane = 0; lane < 4; lane++) v[lane] = roundRef(v[lane]!, readLe(bytes, at + lane * 8, 8));
    }
    h = (rotl(v[0]!, 1n) + rotl(v[1]!, 7n) + rotl(v[2]!, 12n) + rotl(v[3]!, 18n)) & MASK;
    for (const lane of v) h = mergeRef(h, lane);
  } else {
    h = (seed + P5) & MASK;
  }
  h = (h + BigInt(bytes.length)) & MASK;
  for (; at + 8 <= bytes.length; at += 8) h = (rotl(h ^ roundRef(0n, readLe(bytes, at, 8)), 27n) * P1 + P4) & MASK;
  if (at + 4 <= bytes.length) {
    h = (rotl(h ^ ((readLe(bytes, at, 4) * P1) & MASK), 23n) * P2 + P3) & MASK;
    at += 4;
  }
  for (; at < bytes.length; at++) h = (rotl(h ^ ((BigInt(bytes[at]!) * P5) & MASK), 11n) * P1) & MASK;
  h = ((h ^ (h >> 33n)) * P2) & MASK;
  h = ((h ^ (h >> 29n)) * P3) & MASK;
  return h ^ (h >> 32n);
}

const toBigInt = ({ hi, lo }: { hi: number; lo: number }): bigint => (BigInt(hi) << 32n) | BigInt(lo);
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

// Published XXH64 digests with seed 0 (the xxHash reference implementation's
// values, quoted identically by many independent ports).
const PUBLISHED_VECTORS: ReadonlyArray<readonly [string, bigint]> = [
  ["", 0xef46db3751d8e999n],
  ["a", 0xd24ec4f1a98c6e5bn],
  ["abc", 0x44bc2cf5ad770999n],
  ["message digest", 0x066ed728fceeb3ben],
  ["abcdefghijklmnopqrstuvwxyz", 0xcfe1f278fa89835cn],
  ["a".repeat(32), 0x856e843298f99ad7n],
  ["Nobody inspects the spammish repetition", 0xfbcea83c8a378bf1n],
  ["The quick brown fox jumps over the lazy dog", 0x0b242d361fda71bcn],
];

describe("xxHash64", () => {
  it.each(PUBLISHED_VECTORS)("matches the published digest of %j", (text, digest) => {
    expect(toBigInt(xxHash64(utf8(text)))).toBe(digest);
    expect(referenceXxh64(utf8(text))).toBe(digest);
  });

  // Pinned from the BigInt reference, covering every tail length 0..7 after
  // whole 8-byte lanes and stripes, and non-zero seeds.
  it.each([
    [0, 0n],
    [1, 0n],
    [7, 0n],
    [8, 0n],
    [12, 0n],
    [15, 0n],
    [16, 0n],
    [31, 0n],
    [32, 0n],
    [33, 0n],
    [63, 0n],
    [64, 0n],
    [100, 0n],
    [257, 0n],
    [16, 1n],
    [16, 0xffffffffffffffffn],
    [40, 0x9e3779b185ebca87n],
  ] as const)("agrees with the reference for %i bytes 0,1,2,... and seed %s", (length, seed) => {
    const bytes = Uint8Array.from({ length }, (_, index) => index & 0xff);
    const seedHalves = { hi: Number(seed >> 32n), lo: Number(seed & 0xffffffffn) };
    expect(toBigInt(xxHash64(bytes, seedHalves))).toBe(referenceXxh64(bytes, seed));
  });

  it("agrees with the reference on random bytes and seeds", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.bigInt({ min: 0n, max: MASK }), (bytes, seed) => {
        const seedHalves = { hi: Number(seed >> 32n), lo: Number(seed & 0xffffffffn) };
        expect(toBigInt(xxHash64(bytes, seedHalves))).toBe(referenceXxh64(bytes, seed));
      }),
      { numRuns: 2000 },
    );
  });

  it("returns unsigned 32-bit halves", () => {
    const { hi, lo } = xxHash64(utf8("a"));
    expect(hi).toBe(0xd24ec4f1);
    expect(lo).toBe(0xa98c6e5b);
  });
});
