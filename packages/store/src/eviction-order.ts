/** A key and its frequency (LFU; 0 for other policies), as walk() yields them. */
export interface OrderedKey {
  readonly key: string;
  readonly frequency: number;
}

/** Which entry a full store gives up first. */
export type EvictionPolicy = "lru" | "lfu" | "fifo" | "random";

/** Every policy, in the order of their wire codes (1-based) in snapshots. */
export const EVICTION_POLICIES: readonly EvictionPolicy[] = ["lru", "lfu", "fifo", "random"];

/**
 * The replicated eviction state of one policy: the order in which keys would be
 * given up. Only apply-time operations change it, in the same order on every
 * replica, so it never depends on a Map's iteration order or on reads.
 */
export interface EvictionOrder {
  readonly policy: EvictionPolicy;
  readonly size: number;
  /** LFU frequency events since the last halving; always 0 for other policies. */
  readonly agingAccesses: number;
  /** Adds a key that is not present. */
  insert(key: string): void;
  /** Records a write to, or an access hint for, a present key. */
  access(key: string): void;
  /** Forgets a present key. */
  remove(key: string): void;
  /** The key to evict next, never `excludedKey`; undefined when there is none. */
  victim(excludedKey: string | undefined): string | undefined;
  /** Visits keys from the first to be evicted to the last, with their frequency (LFU) or 0. */
  forEach(visit: (key: string, frequency: number) => void): void;
  /** The same visit as forEach, resumable: valid only while the order does not change. */
  walk(): Generator<OrderedKey>;
  /** Restore: appends a key after all others, with the frequency forEach reported. */
  append(key: string, frequency: number): void;
  /** Restore: sets the aging progress forEach's caller saved. */
  restoreAgingAccesses(accesses: number): void;
  /** O(n) structural checks for tests; throws StoreAssertionError on a broken invariant. */
  checkInvariants(): void;
}
