import { assert } from "./assert.js";
import type { EvictionOrder, OrderedKey } from "./eviction-order.js";
import { KeyList, KeyNode } from "./key-list.js";

/**
 * LRU and FIFO: one linked list, front = next victim.
 * - LRU moves a key to the back on every write and every access hint.
 * - FIFO keeps insertion order: overwriting a live key does not move it, because the
 *   key was not inserted again. A key that expired or was removed and is written
 *   anew is a new insertion and goes to the back.
 */
export class ListOrder implements EvictionOrder {
  readonly agingAccesses = 0;
  private readonly nodes = new Map<string, KeyNode>();
  private readonly list = new KeyList();
  private readonly moveOnAccess: boolean;

  constructor(readonly policy: "lru" | "fifo") {
    this.moveOnAccess = policy === "lru";
  }

  get size(): number {
    return this.nodes.size;
  }

  insert(key: string): void {
    assert(!this.nodes.has(key), "ListOrder.insert: key already present");
    const node = new KeyNode(key);
    this.nodes.set(key, node);
    this.list.pushBack(node);
  }

  access(key: string): void {
    if (!this.moveOnAccess) return;
    const node = this.nodes.get(key);
    assert(node !== undefined, "ListOrder.access: key absent");
    this.list.moveToBack(node);
  }

  remove(key: string): void {
    const node = this.nodes.get(key);
    assert(node !== undefined, "ListOrder.remove: key absent");
    this.list.remove(node);
    this.nodes.delete(key);
  }

  victim(excludedKey: string | undefined): string | undefined {
    const first = this.list.first();
    if (first === undefined || first.key !== excludedKey) return first?.key;
    return this.list.after(first)?.key;
  }

  forEach(visit: (key: string, frequency: number) => void): void {
    for (const node of this.list) visit(node.key, 0);
  }

  *walk(): Generator<OrderedKey> {
    for (const node of this.list) yield { key: node.key, frequency: 0 };
  }

  append(key: string, frequency: number): void {
    assert(frequency === 0, "ListOrder.append: frequency must be 0");
    this.insert(key);
  }

  restoreAgingAccesses(accesses: number): void {
    assert(accesses === 0, "ListOrder.restoreAgingAccesses: must be 0");
  }

  checkInvariants(): void {
    assert(this.list.length === this.nodes.size, "ListOrder: list length differs from map size");
    let count = 0;
    for (const node of this.list) {
      assert(this.nodes.get(node.key) === node, "ListOrder: list node not in map");
      assert(node.next.prev === node && node.prev.next === node, "ListOrder: broken links");
      count++;
    }
    assert(count === this.nodes.size, "ListOrder: list walk length differs from map size");
  }
}
