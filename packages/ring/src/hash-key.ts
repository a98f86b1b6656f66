import { type Hash64, xxHash64Into } from "./xxhash64.js";

// A key's position on the ring is XXH64(seed 0) of its UTF-8 bytes. Lone
// surrogates encode as U+FFFD, exactly as TextEncoder does, so a key string
// hashes the same in every runtime and as the UTF-8 bytes a server receives.

/** Keys up to this many UTF-16 units are encoded into a reused buffer. */
const SCRATCH_UNITS_MAX = 16 * 1024;

let scratch = new Uint8Array(256);
const textEncoder = new TextEncoder();

/**
 * UTF-8 encodes text into target (which has room for 3 bytes per UTF-16 unit)
 * and returns the byte count. Hand-written because TextEncoder.encodeInto
 * costs more than the whole hash for the short keys typical of a cache.
 */
export function encodeUtf8Into(text: string, target: Uint8Array): number {
  let length = 0;
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit < 0x80) {
      target[length++] = unit;
    } else if (unit < 0x800) {
      target[length++] = 0xc0 | (unit >>> 6);
      target[length++] = 0x80 | (unit & 0x3f);
    } else if (unit >= 0xd800 && unit <= 0xdfff) {
      const next = index + 1 < text.length ? text.charCodeAt(index + 1) : 0;
      if (unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const codePoint = 0x10000 + ((unit - 0xd800) << 10) + (next - 0xdc00);
        target[length++] = 0xf0 | (codePoint >>> 18);
        target[length++] = 0x80 | ((codePoint >>> 12) & 0x3f);
        target[length++] = 0x80 | ((codePoint >>> 6) & 0x3f);
        target[length++] = 0x80 | (codePoint & 0x3f);
        index++;
      } else {
        // A lone surrogate is not encodable; U+FFFD is what TextEncoder emits.
        target[length++] = 0xef;
        target[length++] = 0xbf;
        target[length++] = 0xbd;
      }
    } else {
      target[length++] = 0xe0 | (unit >>> 12);
      target[length++] = 0x80 | ((unit >>> 6) & 0x3f);
      target[length++] = 0x80 | (unit & 0x3f);
    }
  }
  return length;
}

/** Writes XXH64(UTF-8(key)) into out[0] (hi) and out[1] (lo) without allocating. */
export function hashKeyInto(key: string, out: Uint32Array): void {
  if (key.length > SCRATCH_UNITS_MAX) {
    // Rare huge keys: do not pin a huge scratch buffer for the process lifetime.
    const bytes = textEncoder.encode(key);
    xxHash64Into(bytes, bytes.length, out);
    return;
  }
  if (scratch.length < key.length * 3) {
    scratch = new Uint8Array(Math.max(key.length * 3, scratch.length * 2));
  }
  xxHash64Into(scratch, encodeUtf8Into(key, scratch), out);
}

const hashOut = new Uint32Array(2);

/**
 * The 64-bit ring position of a key: XXH64 with seed 0 of the key's UTF-8
 * bytes, as unsigned 32-bit halves (position = hi * 2^32 + lo).
 */
export function hashKey(key: string): Hash64 {
  hashKeyInto(key, hashOut);
  return { hi: hashOut[0]!, lo: hashOut[1]! };
}

/** The ring position of a key given as UTF-8 bytes (same as hashKey of the decoded string). */
export function hashKeyBytes(bytes: Uint8Array): Hash64 {
  xxHash64Into(bytes, bytes.length, hashOut);
  return { hi: hashOut[0]!, lo: hashOut[1]! };
}
