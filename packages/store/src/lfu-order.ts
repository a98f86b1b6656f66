import { assert } from "./assert.js";
import type { EvictionOrder, OrderedKey } from "./eviction-order.js";
import { KeyList, KeyNode } from "./key-list.js";

/** The largest LFU halving interval; counts stay far below 2^31. */
export const LFU_HALVING_INTERVAL_ACCESSES_MAX = 1 << 30;

/** All keys that share one frequency count, least recently promoted first. */
class Bucket {
  readonly items = new KeyList<LfuNode>();
  prev: Bucket | undefined = undefined;
  next: Bucket | undefined = undefined;
  /** Set when aging merged this bucket into another: nodes follow it lazily. */
  forward: Bucket | undefined = undefined;

  constructor(public count: number) {}
}

class LfuNode extends KeyNode {
  constructor(
    key: string,
    public bucket: Bucket,
  ) {
    super(key);
  }
}

/**
 * O(1) LFU after Shah, Mitra and Matani, "An O(1) algorithm for implementing the LFU
 * cache eviction scheme" (2010): a list of frequency buckets in ascending count, each
 * holding its keys in the order they reached that count. The victim is the front key
 * of the lowest bucket, so ties go to the least recently promoted key.
 *
 * Aging: a logical clock counts frequency events (an insert, a write to a live key,
 * an access hint). Every `halvingIntervalAccesses` events, every count is halved
 * (rounded down, so a key seen once long ago drops to 0, below a fresh key's 1).
 * Halving keeps the bucket order; buckets whose counts collide are merged by
 * splicing the higher bucket's keys behind the lower one's (keys that were less
 * frequent before aging stay ahead in the eviction order). Merging is O(1) per bucket
 * because nodes keep pointing at the merged bucket, which forwards to its survivor
 * (union-find with path compression); so a halving costs O(buckets), which is
 * O(sqrt(interval)), and amortises to O(1) per event.
 */
export class LfuOrder implements EvictionOrder {
  readonly policy = "lfu" as const;
  private readonly nodes = new Map<string, LfuNode>();
  private head: Bucket | undefined = undefined;
  private tail: Bucket | undefined = undefined;
  private accessesSinceHalving = 0;

  private halvingIntervalAccesses = 1;

  constructor(halvingIntervalAccesses: number) {
    this.retune(halvingIntervalAccesses);
  }

  /**
   * Changes the halving interval (a configure() of entriesMax may change it). If the
   * clock already reached the new interval, the halving happens now, so the clock
   * always stays below the interval.
   */
  retune(halvingIntervalAccesses: number): void {
    assert(
      Number.isInteger(halvingIntervalAccesses) && halvingIntervalAccesses >= 1 && halvingIntervalAccesses <= LFU_HALVING_INTERVAL_ACCESSES_MAX,
      "LfuOrder: halvingIntervalAccesses out of range",
    );
    this.halvingIntervalAccesses = halvingIntervalAccesses;
    if (this.accessesSinceHalving < halvingIntervalAccesses) return;
    this.accessesSinceHalving = 0;
    this.halve();
  }

  get size(): number {
    return this.nodes.size;
  }

  get agingAccesses(): number {
    return this.accessesSinceHalving;
  }

  insert(key: string): void {
    assert(!this.nodes.has(key), "LfuOrder.insert: key already present");
    // Counts are >= 0, so a count-1 bucket is the head or sits right after a count-0 head.
    const zero = this.head !== undefined && this.head.count === 0 ? this.head : undefined;
    const candidate = zero === undefined ? this.head : zero.next;
    const bucket = candidate !== undefined && candidate.count === 1 ? candidate : this.linkAfter(zero, 1);
    const node = new LfuNode(key, bucket);
    bucket.items.pushBack(node);
    this.nodes.set(key, node);
    this.tick();
  }

  access(key: string): void {
    const node = this.nodes.get(key);
    assert(node !== undefined, "LfuOrder.access: key absent");
    const bucket = this.resolve(node);
    const following = bucket.next;
    const target = following !== undefined && following.count === bucket.count + 1 ? following : this.linkAfter(bucket, bucket.count + 1);
    bucket.items.remove(node);
    target.items.pushBack(node);
    node.bucket = target;
    if (bucket.items.length === 0) this.unlink(bucket);
    this.tick();
  }

  remove(key: string): void {
    const node = this.nodes.get(key);
    assert(node !== undefined, "LfuOrder.remove: key absent");
    const bucket = this.resolve(node);
    bucket.items.remove(node);
    if (bucket.items.length === 0) this.unlink(bucket);
    this.nodes.delete(key);
  }

  victim(excludedKey: string | undefined): string | undefined {
    const head = this.head;
    if (head === undefined) return undefined;
    const first = head.items.first() as LfuNode;
    if (first.key !== excludedKey) return first.key;
    // Buckets are never empty, so the runner-up is the next node or the next bucket's first.
    const second = head.items.after(first) ?? head.next?.items.first();
    return second?.key;
  }

  forEach(visit: (key: string, frequency: number) => void): void {
    for (let bucket = this.head; bucket !== undefined; bucket = bucket.next) {
      for (const node of bucket.items) visit(node.key, bucket.count);
    }
  }

  *walk(): Generator<OrderedKey> {
    for (let bucket = this.head; bucket !== undefined; bucket = bucket.next) {
      for (const node of bucket.items) yield { key: node.key, frequency: bucket.count };
    }
  }

  append(key: string, frequency: number): void {
    assert(Number.isInteger(frequency) && frequency >= 0, "LfuOrder.append: frequency must be a count");
    assert(!this.nodes.has(key), "LfuOrder.append: key already present");
    const tail = this.tail;
    assert(tail === undefined || tail.count <= frequency, "LfuOrder.append: frequencies must not decrease");
    const bucket = tail !== undefined && tail.count === frequency ? tail : this.linkAfter(tail, frequency);
    const node = new LfuNode(key, bucket);
    bucket.items.pushBack(node);
    this.nodes.set(key, node);
  }

  restoreAgingAccesses(accesses: number): void {
    assert(Number.isInteger(accesses) && accesses >= 0 && accesses < this.halvingIntervalAccesses, "LfuOrder: aging accesses out of range");
    this.accessesSinceHalving = accesses;
  }

  checkInvariants(): void {
    let total = 0;
    let previous: Bucket | undefined = undefined;
    for (let bucket = this.head; bucket !== undefined; bucket = bucket.next) {
      assert(bucket.prev === previous, "LfuOrder: broken bucket links");
      assert(bucket.forward === undefined, "LfuOrder: forwarded bucket still linked");
      assert(bucket.items.length > 0, "LfuOrder: empty bucket");
      assert(previous === undefined || previous.count < bucket.count, "LfuOrder: counts not strictly ascending");
      for (const node of bucket.items) {
        assert(this.nodes.get(node.key) === node, "LfuOrder: node not in map");
        assert(this.resolve(node) === bucket, "LfuOrder: node points at the wrong bucket");
        total++;
      }
      previous = bucket;
    }
    assert(previous === this.tail, "LfuOrder: tail out of date");
    assert(total === this.nodes.size, "LfuOrder: bucket walk differs from map size");
    assert(this.accessesSinceHalving < this.halvingIntervalAccesses, "LfuOrder: aging clock overdue");
  }

  private tick(): void {
    this.accessesSinceHalving++;
    if (this.accessesSinceHalving < this.halvingIntervalAccesses) return;
    this.accessesSinceHalving = 0;
    this.halve();
  }

  private halve(): void {
    let survivor: Bucket | undefined = undefined;
    for (let bucket = this.head; bucket !== undefined;) {
      const next: Bucket | undefined = bucket.next;
      bucket.count = Math.floor(bucket.count / 2);
      if (survivor !== undefined && survivor.count === bucket.count) {
        survivor.items.spliceBack(bucket.items);
        this.unlink(bucket);
        bucket.forward = survivor;
      } else {
        survivor = bucket;
      }
      bucket = next;
    }
  }

  /** The live bucket of a node, compressing forwarding chains left by aging merges. */
  private resolve(node: LfuNode): Bucket {
    let root = node.bucket;
    while (root.forward !== undefined) root = root.forward;
    for (let bucket = node.bucket; bucket.forward !== undefined;) {
      const next: Bucket = bucket.forward;
      bucket.forward = root;
      bucket = next;
    }
    node.bucket = root;
    return root;
  }

  /** Links a new bucket after `before` (or at the head when undefined). */
  private linkAfter(before: Bucket | undefined, count: number): Bucket {
    const bucket = new Bucket(count);
    const after = before === undefined ? this.head : before.next;
    bucket.prev = before;
    bucket.next = after;
    if (before === undefined) this.head = bucket;
    else before.next = bucket;
    if (after === undefined) this.tail = bucket;
    else after.prev = bucket;
    return bucket;
  }

  private unlink(bucket: Bucket): void {
    if (bucket.prev === undefined) this.head = bucket.next;
    else bucket.prev.next = bucket.next;
    if (bucket.next === undefined) this.tail = bucket.prev;
    else bucket.next.prev = bucket.prev;
    bucket.prev = undefined;
    bucket.next = undefined;
  }
}
