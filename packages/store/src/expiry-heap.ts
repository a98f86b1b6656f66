import { assert } from "./assert.js";

interface ExpiryNode {
  readonly key: string;
  expireAtMs: number;
  index: number;
}

/**
 * An indexed binary min-heap of the keys that carry an expiry, ordered by
 * (expireAtMs, key). Removal and re-keying are eager (each node knows its slot), so
 * the heap holds exactly the stored entries with a TTL, nothing stale. With a total
 * order, which keys a bounded sweep expires depends only on the entries, not on the
 * heap's layout, so a replica restored from a snapshot sweeps exactly as the
 * original does.
 */
export class ExpiryHeap {
  private readonly nodes: ExpiryNode[] = [];
  private readonly byKey = new Map<string, ExpiryNode>();

  get size(): number {
    return this.nodes.length;
  }

  /** Records `key`'s expiry; 0 removes it from the heap. O(log n). */
  set(key: string, expireAtMs: number): void {
    const node = this.byKey.get(key);
    if (expireAtMs === 0) {
      if (node !== undefined) this.removeNode(node);
      return;
    }
    if (node === undefined) {
      const added: ExpiryNode = { key, expireAtMs, index: this.nodes.length };
      this.nodes.push(added);
      this.byKey.set(key, added);
      this.siftUp(added.index);
      return;
    }
    node.expireAtMs = expireAtMs;
    this.siftUp(node.index);
    this.siftDown(node.index);
  }

  delete(key: string): void {
    const node = this.byKey.get(key);
    if (node !== undefined) this.removeNode(node);
  }

  /** The key that expires first if it is due at `nowMs` (expireAtMs <= nowMs). */
  due(nowMs: number): string | undefined {
    const top = this.nodes[0];
    return top !== undefined && top.expireAtMs <= nowMs ? top.key : undefined;
  }

  checkInvariants(expireAtMsOf: (key: string) => number | undefined): void {
    assert(this.nodes.length === this.byKey.size, "ExpiryHeap: array and map sizes differ");
    this.nodes.forEach((node, index) => {
      assert(node.index === index, "ExpiryHeap: stale slot index");
      assert(this.byKey.get(node.key) === node, "ExpiryHeap: node not in map");
      assert(expireAtMsOf(node.key) === node.expireAtMs, "ExpiryHeap: expiry differs from the entry's");
      const parent = this.nodes[(index - 1) >> 1];
      assert(index === 0 || (parent !== undefined && !this.less(index, parent.index)), "ExpiryHeap: heap order broken");
    });
  }

  private removeNode(node: ExpiryNode): void {
    const last = this.nodes.pop() as ExpiryNode;
    this.byKey.delete(node.key);
    if (last === node) return;
    this.nodes[node.index] = last;
    last.index = node.index;
    this.siftUp(last.index);
    this.siftDown(last.index);
  }

  private less(left: number, right: number): boolean {
    const a = this.nodes[left] as ExpiryNode;
    const b = this.nodes[right] as ExpiryNode;
    return a.expireAtMs < b.expireAtMs || (a.expireAtMs === b.expireAtMs && a.key < b.key);
  }

  private siftUp(start: number): void {
    let index = start;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.less(index, parent)) return;
      this.swap(index, parent);
      index = parent;
    }
  }

  private siftDown(start: number): void {
    let index = start;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < this.nodes.length && this.less(left, smallest)) smallest = left;
      if (right < this.nodes.length && this.less(right, smallest)) smallest = right;
      if (smallest === index) return;
      this.swap(index, smallest);
      index = smallest;
    }
  }

  private swap(i: number, j: number): void {
    const a = this.nodes[i] as ExpiryNode;
    const b = this.nodes[j] as ExpiryNode;
    this.nodes[i] = b;
    this.nodes[j] = a;
    a.index = j;
    b.index = i;
  }
}
