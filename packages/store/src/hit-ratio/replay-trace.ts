import type { EvictionPolicy } from "../eviction-order.js";
import type { StoreOptions } from "../store-options.js";
import { Store } from "../store.js";
import type { Trace } from "./trace.js";

/** Key strings for a trace's ids, built once and shared by every replay of it. */
export function traceKeys(trace: Trace): string[] {
  return Array.from({ length: trace.keyCount }, (_, id) => `key:${id}`);
}

const EMPTY_VALUE = new Uint8Array(0);

/**
 * Replays a trace through a real Store with `policy` and room for `cacheEntries`
 * keys, the way a shard sees reads: a hit becomes an access hint (touch), a miss
 * becomes a set. Bytes are unbounded, so only the entry bound evicts. Returns hits.
 */
export function replayTrace(
  trace: Trace,
  policy: EvictionPolicy,
  cacheEntries: number,
  keys: readonly string[] = traceKeys(trace),
  options: Partial<StoreOptions> = {},
): number {
  const store = new Store({ ...options, policy, entriesMax: cacheEntries, bytesMax: Number.MAX_SAFE_INTEGER });
  const hint = [""];
  const nowMs = 0;
  let hits = 0;
  for (let index = 0; index < trace.requests.length; index++) {
    const key = keys[trace.requests[index] as number] as string;
    if (store.peek(key, nowMs) === undefined) {
      store.set(key, EMPTY_VALUE, {}, nowMs);
    } else {
      hits++;
      hint[0] = key;
      store.touch(hint, nowMs);
    }
  }
  return hits;
}
