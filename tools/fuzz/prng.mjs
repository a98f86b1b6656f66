// Seeded pseudo-random numbers for the fuzzer. Every request draws from its own
// generator, derived from (seed, label, index), so the requests of a run are the same
// whatever the concurrency, and one request can be replayed on its own (--only N).

/** 32-bit FNV-1a over the UTF-16 code units of a string. */
function fnv32(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** splitmix32: spreads one 32-bit value into a well-mixed stream (used for seeding). */
function splitmix32(state) {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** xoshiro128** with a few helpers for drawing test data. */
export class Prng {
  /** @param {string | number} seed @param {...(string | number)} parts */
  static derive(seed, ...parts) {
    return new Prng([String(seed), ...parts.map(String)].join("\u0000"));
  }

  /** @param {string | number} seed */
  constructor(seed) {
    const text = String(seed);
    const mix = splitmix32(fnv32(text) ^ Math.imul(text.length, 0x27d4eb2d));
    // A second hash over the reversed text, so seeds that collide in fnv32 still differ.
    const mix2 = splitmix32(fnv32([...text].reverse().join("")));
    this.s = [mix() ^ mix2(), mix() ^ mix2(), mix() ^ mix2(), mix() ^ mix2()];
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
    for (let i = 0; i < 8; i++) this.next();
  }

  /** A uniform 32-bit unsigned integer. */
  next() {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A float in [0, 1). */
  float() {
    return this.next() / 2 ** 32;
  }

  /** An integer in [0, n). */
  int(n) {
    if (n <= 0) return 0;
    if (n <= 2 ** 32) return Math.floor(this.float() * n);
    return Math.floor(((this.next() * 2 ** 32 + this.next()) / 2 ** 64) * n);
  }

  /** An integer in [lo, hi]. */
  range(lo, hi) {
    return lo + this.int(hi - lo + 1);
  }

  bool(p = 0.5) {
    return this.float() < p;
  }

  /** @template T @param {readonly T[]} items @returns {T} */
  pick(items) {
    return items[this.int(items.length)];
  }

  /**
   * Picks a value by weight.
   * @template T @param {readonly (readonly [number, T])[]} entries @returns {T}
   */
  weighted(entries) {
    let total = 0;
    for (const [w] of entries) total += w;
    let x = this.float() * total;
    for (const [w, v] of entries) {
      x -= w;
      if (x < 0) return v;
    }
    return entries[entries.length - 1][1];
  }

  /** n random bytes. */
  bytes(n) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.next();
      out[i] = v;
      if (i + 1 < n) out[i + 1] = v >>> 8;
      if (i + 2 < n) out[i + 2] = v >>> 16;
      if (i + 3 < n) out[i + 3] = v >>> 24;
    }
    return out;
  }

  /** A string of n characters from alphabet (a string or an array of strings). */
  string(n, alphabet = "abcdefghijklmnopqrstuvwxyz0123456789") {
    const chars = typeof alphabet === "string" ? [...alphabet] : alphabet;
    let out = "";
    for (let i = 0; i < n; i++) out += chars[this.int(chars.length)];
    return out;
  }
}

function rotl(x, k) {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
