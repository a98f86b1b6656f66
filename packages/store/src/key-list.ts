/** A node of a KeyList. Subclasses add per-policy fields. */
export class KeyNode {
  prev: KeyNode = this;
  next: KeyNode = this;

  constructor(readonly key: string) {}
}

/**
 * An intrusive, circular doubly linked list with a sentinel: O(1) push, remove,
 * move-to-back and whole-list splice. Order is replicated state, so it is never
 * derived from a Map's iteration order.
 */
export class KeyList<Node extends KeyNode = KeyNode> {
  private readonly sentinel = new KeyNode("");
  private count = 0;

  get length(): number {
    return this.count;
  }

  /** The front node (oldest), or undefined when empty. */
  first(): Node | undefined {
    return this.count === 0 ? undefined : (this.sentinel.next as Node);
  }

  /** The node after `node`, or undefined at the back. */
  after(node: Node): Node | undefined {
    return node.next === this.sentinel ? undefined : (node.next as Node);
  }

  pushBack(node: Node): void {
    const last = this.sentinel.prev;
    node.prev = last;
    node.next = this.sentinel;
    last.next = node;
    this.sentinel.prev = node;
    this.count++;
  }

  remove(node: Node): void {
    node.prev.next = node.next;
    node.next.prev = node.prev;
    node.prev = node;
    node.next = node;
    this.count--;
  }

  moveToBack(node: Node): void {
    if (this.sentinel.prev === node) return;
    this.remove(node);
    this.pushBack(node);
  }

  /** Moves every node of `other` to the back of this list, in order, in O(1). */
  spliceBack(other: KeyList<Node>): void {
    if (other.count === 0) return;
    const head = other.sentinel.next;
    const tail = other.sentinel.prev;
    const last = this.sentinel.prev;
    last.next = head;
    head.prev = last;
    tail.next = this.sentinel;
    this.sentinel.prev = tail;
    this.count += other.count;
    other.sentinel.next = other.sentinel;
    other.sentinel.prev = other.sentinel;
    other.count = 0;
  }

  *[Symbol.iterator](): IterableIterator<Node> {
    for (let node = this.sentinel.next; node !== this.sentinel; node = node.next) yield node as Node;
  }
}
