/**
 * The set of (linearized operations, model state) configurations already
 * explored (Lowe's memoization). Reaching a configuration a second time, by
 * linearizing the same operations in another order, cannot succeed where the
 * first visit failed, so the search prunes it.
 *
 * The linearized set is a bitset with an incremental Zobrist hash (XOR of a
 * fixed random word per operation); entries are compared exactly, so a hash
 * collision costs time but never a wrong prune.
 */
export class MemoCache {
  readonly #bits: Uint32Array;
  readonly #zobrist: Uint32Array;
  #hash = 0;
  readonly #seen = new Map<string, Uint32Array[]>();

  constructor(operationCount: number) {
    this.#bits = new Uint32Array(Math.ceil(operationCount / 32));
    this.#zobrist = zobristWords(operationCount);
  }

  /** Adds or removes operation from the linearized set. */
  toggle(operation: number): void {
    this.#bits[operation >>> 5]! ^= 1 << (operation & 31);
    this.#hash ^= this.#zobrist[operation]!;
  }

  /** Records the current set with stateKey; false if that configuration was already seen. */
  add(stateKey: string): boolean {
    const slot = `${this.#hash}:${stateKey}`;
    const sets = this.#seen.get(slot);
    if (sets === undefined) {
      this.#seen.set(slot, [this.#bits.slice()]);
      return true;
    }
    if (sets.some((bits) => equalWords(bits, this.#bits))) return false;
    sets.push(this.#bits.slice());
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }
}

function equalWords(a: Uint32Array, b: Uint32Array): boolean {
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

/** Deterministic pseudo-random words (splitmix32 style), so runs are reproducible. */
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
