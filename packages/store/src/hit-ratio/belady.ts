import { assert } from "../assert.js";
import type { Trace } from "./trace.js";

/**
 * Belady's OPT (MIN) for a demand-fetched cache of `cacheEntries` keys: on a miss with
 * a full cache, evict the key whose next use is farthest in the future. It bounds the
 * hit count of every policy that, like the store, admits every missed key.
 * O(log n) per request: next-use indices are precomputed backwards, and the cached
 * keys sit in a max-heap by next use with lazy invalidation (an entry is current only
 * while it matches the key's latest next use). Returns the number of hits.
 */
export function simulateBelady(trace: Trace, cacheEntries: number): number {
  assert(Number.isInteger(cacheEntries) && cacheEntries >= 1, "simulateBelady: cacheEntries must be >= 1");
  const { requests, keyCount } = trace;
  const nextUse = nextUseIndices(requests, keyCount);
  const cachedNextUse = new Int32Array(keyCount).fill(-1); // -1: not cached
  const heap = new NextUseHeap(requests.length);
  let cached = 0;
  let hits = 0;
  for (let index = 0; index < requests.length; index++) {
    const key = requests[index] as number;
    if (cachedNextUse[key] !== -1) {
      hits++;
    } else if (cached === cacheEntries) {
      cachedNextUse[heap.popCurrent(cachedNextUse)] = -1;
    } else {
      cached++;
    }
    const next = nextUse[index] as number;
    cachedNextUse[key] = next;
    heap.push(next, key);
  }
  return hits;
}

/** For each request, the index of the same key's next request; requests.length if none. */
function nextUseIndices(requests: Int32Array, keyCount: number): Int32Array {
  const nextUse = new Int32Array(requests.length);
  const following = new Int32Array(keyCount).fill(requests.length);
  for (let index = requests.length - 1; index >= 0; index--) {
    const key = requests[index] as number;
    nextUse[index] = following[key] as number;
    following[key] = index;
  }
  return nextUse;
}

/** A binary max-heap of (next use, key) pairs in typed arrays. */
class NextUseHeap {
  private readonly nextUses: Int32Array;
  private readonly keys: Int32Array;
  private length = 0;

  constructor(capacity: number) {
    this.nextUses = new Int32Array(capacity);
    this.keys = new Int32Array(capacity);
  }

  push(nextUse: number, key: number): void {
    let index = this.length++;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if ((this.nextUses[parent] as number) >= nextUse) break;
      this.nextUses[index] = this.nextUses[parent] as number;
      this.keys[index] = this.keys[parent] as number;
      index = parent;
    }
    this.nextUses[index] = nextUse;
    this.keys[index] = key;
  }

  /** Pops entries until one is current for its key, and returns that key. */
  popCurrent(cachedNextUse: Int32Array): number {
    for (;;) {
      assert(this.length > 0, "NextUseHeap: no current entry");
      const nextUse = this.nextUses[0] as number;
      const key = this.keys[0] as number;
      this.removeTop();
      if (cachedNextUse[key] === nextUse) return key;
    }
  }

  private removeTop(): void {
    const last = --this.length;
    const nextUse = this.nextUses[last] as number;
    const key = this.keys[last] as number;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= last) break;
      const right = left + 1;
      const larger = right < last && (this.nextUses[right] as number) > (this.nextUses[left] as number) ? right : left;
      if ((this.nextUses[larger] as number) <= nextUse) break;
      this.nextUses[index] = this.nextUses[larger] as number;
      this.keys[index] = this.keys[larger] as number;
      index = larger;
    }
    this.nextUses[index] = nextUse;
    this.keys[index] = key;
  }
}
