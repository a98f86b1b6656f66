import { assert } from "./assert.js";
import type { EvictionOrder, OrderedKey } from "./eviction-order.js";
import type { Prng } from "./prng.js";

/**
 * Random eviction: a dense array of keys plus an index map, with swap-remove, so
 * insert, remove and victim are O(1). The array order is replicated state (snapshots
 * keep it), and victims are drawn from the store's seeded Prng.
 */
export class RandomOrder implements EvictionOrder {
  readonly policy = "random" as const;
  readonly agingAccesses = 0;
  private readonly keys: string[] = [];
  private readonly indexes = new Map<string, number>();

  constructor(private readonly prng: Prng) {}

  get size(): number {
    return this.keys.length;
  }

  insert(key: string): void {
    assert(!this.indexes.has(key), "RandomOrder.insert: key already present");
    this.indexes.set(key, this.keys.length);
    this.keys.push(key);
  }

  access(_key: string): void {
    // Random eviction keeps no recency or frequency.
  }

  remove(key: string): void {
    const index = this.indexes.get(key);
    assert(index !== undefined, "RandomOrder.remove: key absent");
    const last = this.keys.pop() as string;
    if (index < this.keys.length) {
      this.keys[index] = last;
      this.indexes.set(last, index);
    }
    this.indexes.delete(key);
  }

  /** Uniform over the live keys other than `excludedKey`: one draw, no retries. */
  victim(excludedKey: string | undefined): string | undefined {
    const excludedIndex = excludedKey === undefined ? undefined : this.indexes.get(excludedKey);
    const candidates = this.keys.length - (excludedIndex === undefined ? 0 : 1);
    if (candidates === 0) return undefined;
    let index = this.prng.nextBelow(candidates);
    if (excludedIndex !== undefined && index >= excludedIndex) index++;
    return this.keys[index];
  }

  forEach(visit: (key: string, frequency: number) => void): void {
    for (const key of this.keys) visit(key, 0);
  }

  *walk(): Generator<OrderedKey> {
    for (const key of this.keys) yield { key, frequency: 0 };
  }

  append(key: string, frequency: number): void {
    assert(frequency === 0, "RandomOrder.append: frequency must be 0");
    this.insert(key);
  }

  restoreAgingAccesses(accesses: number): void {
    assert(accesses === 0, "RandomOrder.restoreAgingAccesses: must be 0");
  }

  checkInvariants(): void {
    assert(this.keys.length === this.indexes.size, "RandomOrder: array length differs from map size");
    this.keys.forEach((key, index) => assert(this.indexes.get(key) === index, "RandomOrder: index map out of date"));
  }
}
