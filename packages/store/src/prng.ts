import { assert } from "./assert.js";

const TWO_POW_32 = 0x1_0000_0000;

/** The four 32-bit words of the generator's state. */
export type PrngState = readonly [number, number, number, number];

/**
 * A seeded pseudo-random generator: xoshiro128** (Blackman and Vigna, "Scrambled
 * linear pseudorandom number generators"), seeded through a splitmix-style Weyl
 * sequence with a murmur3 finaliser. The store never reads an ambient random source:
 * replicas share the seed (from the log) and the state (in snapshots), so every
 * replica draws the same numbers.
 */
export class Prng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  constructor(seed = 1) {
    this.reseed(seed);
  }

  /** Resets the state from a seed: any safe integer, negative ones included. */
  reseed(seed: number): void {
    assert(Number.isSafeInteger(seed), "Prng.reseed: seed must be a safe integer");
    // Both 32-bit halves feed the state, so seeds such as (term << 32 | index) differ.
    const low = seed >>> 0;
    const high = Math.floor(seed / TWO_POW_32) >>> 0;
    const lows = new WeylMixer(low);
    const highs = new WeylMixer(high ^ 0x6a09e667);
    this.s0 = (lows.next() ^ highs.next()) >>> 0;
    this.s1 = (lows.next() ^ highs.next()) >>> 0;
    this.s2 = (lows.next() ^ highs.next()) >>> 0;
    this.s3 = (lows.next() ^ highs.next()) >>> 0;
    // An all-zero state would stay zero forever.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** The next uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotateLeft(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const shifted = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= shifted;
    this.s3 = rotateLeft(this.s3, 11);
    return result;
  }

  /** A uniform integer in [0, bound), without modulo bias (rejection sampling). */
  nextBelow(bound: number): number {
    assert(Number.isInteger(bound) && bound >= 1 && bound <= TWO_POW_32, "Prng.nextBelow: bound must be an integer in [1, 2^32]");
    // Draws at or above `limit` would make the low residues more likely.
    const limit = TWO_POW_32 - (TWO_POW_32 % bound);
    for (;;) {
      const draw = this.nextUint32();
      if (draw < limit) return draw % bound;
    }
  }

  /** A uniform float in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 67_108_864 + low) / 9_007_199_254_740_992;
  }

  /** The state, for snapshots and digests. */
  state(): PrngState {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  /** Restores a state captured by state(). */
  setState(state: PrngState): void {
    for (const word of state) assert(Number.isInteger(word) && word >= 0 && word < TWO_POW_32, "Prng.setState: words must be uint32");
    assert((state[0] | state[1] | state[2] | state[3]) !== 0, "Prng.setState: the all-zero state is invalid");
    [this.s0, this.s1, this.s2, this.s3] = state;
  }
}

function rotateLeft(word: number, bits: number): number {
  return (word << bits) | (word >>> (32 - bits));
}

/** A Weyl sequence with a murmur3 fmix32 finaliser: spreads a small seed over 32 bits. */
class WeylMixer {
  constructor(private counter: number) {}

  next(): number {
    this.counter = (this.counter + 0x9e3779b9) | 0;
    let mixed = this.counter;
    mixed = Math.imul(mixed ^ (mixed >>> 16), 0x85ebca6b);
    mixed = Math.imul(mixed ^ (mixed >>> 13), 0xc2b2ae35);
    return (mixed ^ (mixed >>> 16)) >>> 0;
  }
}
