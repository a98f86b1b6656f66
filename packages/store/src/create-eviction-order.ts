import type { EvictionOrder, EvictionPolicy } from "./eviction-order.js";
import { LfuOrder } from "./lfu-order.js";
import { ListOrder } from "./list-order.js";
import type { Prng } from "./prng.js";
import { RandomOrder } from "./random-order.js";

/** What a policy needs besides its keys. */
export interface EvictionOrderDependencies {
  readonly prng: Prng;
  readonly lfuHalvingIntervalAccesses: number;
}

/** An empty eviction order for `policy`. */
export function createEvictionOrder(policy: EvictionPolicy, dependencies: EvictionOrderDependencies): EvictionOrder {
  switch (policy) {
    case "lru":
    case "fifo":
      return new ListOrder(policy);
    case "lfu":
      return new LfuOrder(dependencies.lfuHalvingIntervalAccesses);
    case "random":
      return new RandomOrder(dependencies.prng);
  }
}

/**
 * The order of `from` re-expressed in `policy`, keeping the relative order of keys
 * (the old order is the only replicated history there is). Keys switched to LFU all
 * start at count 1 with a fresh aging clock. O(n): a policy change is a rare,
 * operator-driven log entry.
 */
export function convertEvictionOrder(from: EvictionOrder, policy: EvictionPolicy, dependencies: EvictionOrderDependencies): EvictionOrder {
  const to = createEvictionOrder(policy, dependencies);
  const frequency = policy === "lfu" ? 1 : 0;
  from.forEach((key) => to.append(key, frequency));
  return to;
}
