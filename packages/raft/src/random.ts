/**
 * The core's only source of randomness (randomized election timeouts). It is
 * injected so a seed replays a run exactly.
 */
export interface RandomSource {
  /** A uniformly distributed integer in [0, boundExclusive). */
  nextInt(boundExclusive: number): number;
}

const UINT32_RANGE = 0x1_0000_0000;

/** splitmix32: spreads a seed's bits so nearby seeds give unrelated streams. */
function splitmix32(state: { value: number }): number {
  state.value = (state.value + 0x9e3779b9) | 0;
  let z = state.value;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * xoshiro128** seeded through splitmix32. Small, fast, and good enough for
 * scheduling decisions; not for cryptography. Seeds may be any safe integer:
 * the high and low 32-bit halves are both mixed in.
 */
export class SeededRandom implements RandomSource {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    const high = Math.floor(seed / UINT32_RANGE) | 0;
    const state = { value: (seed | 0) ^ Math.imul(high, 0x27d4eb2d) };
    this.s0 = splitmix32(state);
    this.s1 = splitmix32(state);
    this.s2 = splitmix32(state);
    this.s3 = splitmix32(state);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  nextInt(boundExclusive: number): number {
    if (!Number.isInteger(boundExclusive) || boundExclusive <= 0 || boundExclusive > UINT32_RANGE) {
      throw new RangeError(`bound must be an integer in [1, 2^32], got ${boundExclusive}`);
    }
    // Rejection sampling removes the modulo bias.
    const limit = UINT32_RANGE - (UINT32_RANGE % boundExclusive);
    for (;;) {
      const value = this.nextUint32();
      if (value < limit) return value % boundExclusive;
    }
  }

  /** A float in [0, 1) with 32 bits of precision. */
  nextFloat(): number {
    return this.nextUint32() / UINT32_RANGE;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return p > 0 && this.nextFloat() < p;
  }

  /** An integer in [lo, hi], both inclusive. */
  between(lo: number, hi: number): number {
    return lo + this.nextInt(hi - lo + 1);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("cannot pick from an empty list");
    return items[this.nextInt(items.length)]!;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
