import { assert, isSafeIntegerAtLeast } from "./assert.js";
import { EVICTION_POLICIES, type EvictionPolicy } from "./eviction-order.js";
import { LFU_HALVING_INTERVAL_ACCESSES_MAX } from "./lfu-order.js";

/**
 * A shard store's settings. Every one of them shapes the replicated state, so all
 * replicas of a shard must use the same values: policy and bounds change only
 * through configure() (a log entry), and snapshots carry all of them except the seed
 * (they carry the generator's state instead).
 */
export interface StoreOptions {
  /** Which entry goes first when a bound is exceeded. Default "lru". */
  policy: EvictionPolicy;
  /** Maximum number of stored entries, >= 1. Default 1_000_000. */
  entriesMax: number;
  /** Maximum accounted bytes (see entryBytes), >= 1. Default 256 MiB. */
  bytesMax: number;
  /** Seed of the generator behind random eviction. Default 1. */
  seed?: number;
  /** Most entries one sweep step may expire, in [1, SWEEP_KEYS_MAX_LIMIT]. Default 20. */
  sweepKeysMax?: number;
  /** LFU aging: frequency events between two halvings of every count. Default 2^20 (1_048_576). */
  lfuHalvingIntervalAccesses?: number;
}

/** StoreOptions with every field present. */
export type ResolvedStoreOptions = Readonly<Required<StoreOptions>>;

/** The largest sweepKeysMax: one sweep step must stay short. */
export const SWEEP_KEYS_MAX_LIMIT = 65_536;

export const STORE_OPTIONS_DEFAULT: ResolvedStoreOptions = Object.freeze({
  policy: "lru",
  entriesMax: 1_000_000,
  bytesMax: 256 * 1024 * 1024,
  seed: 1,
  sweepKeysMax: 20,
  lfuHalvingIntervalAccesses: 1 << 20,
});

/** Fills defaults and checks ranges; a bad value is a programmer error (the host validates config). */
export function resolveStoreOptions(options: Partial<StoreOptions> = {}): ResolvedStoreOptions {
  const resolved = { ...STORE_OPTIONS_DEFAULT };
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined) Object.assign(resolved, { [name]: value });
  }
  checkBounds(resolved.policy, resolved.entriesMax, resolved.bytesMax);
  assert(Number.isSafeInteger(resolved.seed), "StoreOptions.seed must be a safe integer");
  assert(
    Number.isInteger(resolved.sweepKeysMax) && resolved.sweepKeysMax >= 1 && resolved.sweepKeysMax <= SWEEP_KEYS_MAX_LIMIT,
    "StoreOptions.sweepKeysMax must be an integer in [1, SWEEP_KEYS_MAX_LIMIT]",
  );
  assert(
    Number.isInteger(resolved.lfuHalvingIntervalAccesses) &&
      resolved.lfuHalvingIntervalAccesses >= 1 &&
      resolved.lfuHalvingIntervalAccesses <= LFU_HALVING_INTERVAL_ACCESSES_MAX,
    "StoreOptions.lfuHalvingIntervalAccesses must be an integer in [1, 2^30]",
  );
  return Object.freeze(resolved);
}

/** Checks the settings configure() may change. */
export function checkBounds(policy: EvictionPolicy, entriesMax: number, bytesMax: number): void {
  assert(EVICTION_POLICIES.includes(policy), "StoreOptions.policy must be lru, lfu, fifo or random");
  assert(isSafeIntegerAtLeast(entriesMax, 1), "StoreOptions.entriesMax must be a safe integer >= 1");
  assert(isSafeIntegerAtLeast(bytesMax, 1), "StoreOptions.bytesMax must be a safe integer >= 1");
}
