/**
 * The configurations (linearized operations, model state) already explored
 * (Lowe's memoization). Reaching a configuration a second time, by
 * linearizing the same operations in another order, cannot succeed where the
 * first visit failed, so the search prunes it.
 *
 * Beyond equality, it prunes by subsumption over indeterminate operations. A
 * configuration with the same determinate set D and state, whose
 * indeterminate set U contains an explored one's, can do nothing the explored
 * one could not: the explored one still has the extra indeterminate operations
 * pending, and those need never take effect. (An explored configuration may
 * still be on the search path; it will try every continuation itself.) With
 * the search's breadth-first closures, this keeps k concurrent indeterminate
 * writes to a register from costing 2^k subsets per state.
 *
 * Sets are bitsets keyed by an incremental Zobrist hash of D (XOR of a fixed
 * pseudo-random word per operation) and the state key; bitsets are then
 * compared exactly, so a hash collision costs time but never a wrong prune.
 */
export class MemoCache {
  readonly #determinateBits: Uint32Array;
  readonly #indeterminateWords: number;
  readonly #zobrist: Uint32Array;
  #determinateHash = 0;
  readonly #seen = new Map<string, Array<{ determinate: Uint32Array; indeterminate: Uint32Array }>>();

  constructor(determinateCount: number, indeterminateCount: number) {
    this.#determinateBits = new Uint32Array(Math.ceil(determinateCount / 32));
    this.#indeterminateWords = Math.ceil(indeterminateCount / 32);
    this.#zobrist = zobristWords(determinateCount);
  }

  emptyIndeterminateSet(): Uint32Array {
    return new Uint32Array(this.#indeterminateWords);
  }

  /** Adds determinate operation index to, or removes it from, the current set D. */
  toggleDeterminate(index: number): void {
    this.#determinateBits[index >>> 5]! ^= 1 << (index & 31);
    this.#determinateHash ^= this.#zobrist[index]!;
  }

  /**
   * Records (current D, stateKey, indeterminate set used); false if an
   * explored configuration subsumes it. used is kept by reference: callers
   * never mutate a set after passing it here.
   */
  add(stateKey: string, used: Uint32Array): boolean {
    const slot = `${this.#determinateHash}:${stateKey}`;
    let explored = this.#seen.get(slot);
    if (explored === undefined) {
      explored = [];
      this.#seen.set(slot, explored);
    } else if (explored.some((other) => equalWords(other.determinate, this.#determinateBits) && subsetWords(other.indeterminate, used))) {
      return false;
    }
    explored.push({ determinate: this.#determinateBits.slice(), indeterminate: used });
    return true;
  }
}

function equalWords(a: Uint32Array, b: Uint32Array): boolean {
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

/** Whether every bit of a is set in b. */
function subsetWords(a: Uint32Array, b: Uint32Array): boolean {
  for (let index = 0; index < a.length; index++) if ((a[index]! & ~b[index]!) !== 0) return false;
  return true;
}

/** Deterministic pseudo-random words (a splitmix-style mix), so runs are reproducible. */
function zobristWords(count: number): Uint32Array {
  const words = new Uint32Array(count);
  let state = 0x9e3779b9;
  for (let index = 0; index < count; index++) {
    state = (state + 0x9e3779b9) | 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 16), 0x85ebca6b);
    mixed = Math.imul(mixed ^ (mixed >>> 13), 0xc2b2ae35);
    words[index] = (mixed ^ (mixed >>> 16)) >>> 0;
  }
  return words;
}
