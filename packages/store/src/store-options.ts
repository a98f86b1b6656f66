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
  /**
   * LFU aging: frequency events between two halvings of every count, in [1, 2^30];
   * 0 (the default) means LFU_HALVING_ACCESSES_PER_ENTRY x entriesMax, which follows
   * configure() changes of entriesMax.
   */
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
  lfuHalvingIntervalAccesses: 0,
});

/**
 * The automatic LFU halving interval per cache entry. Counts then reflect roughly the
 * last 16 accesses per slot: long enough to rank a stable Zipf workload well, short
 * enough that a moved hot set displaces the old one within a few intervals (see the
 * hit-ratio benchmark in docs/benchmarks.md).
 */
export const LFU_HALVING_ACCESSES_PER_ENTRY = 16;

/** The halving interval in force for these settings. */
export function lfuHalvingIntervalOf(options: Pick<ResolvedStoreOptions, "lfuHalvingIntervalAccesses" | "entriesMax">): number {
  if (options.lfuHalvingIntervalAccesses !== 0) return options.lfuHalvingIntervalAccesses;
  return Math.min(LFU_HALVING_INTERVAL_ACCESSES_MAX, Math.max(LFU_HALVING_ACCESSES_PER_ENTRY, LFU_HALVING_ACCESSES_PER_ENTRY * options.entriesMax));
}

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
      resolved.lfuHalvingIntervalAccesses >= 0 &&
      resolved.lfuHalvingIntervalAccesses <= LFU_HALVING_INTERVAL_ACCESSES_MAX,
    "StoreOptions.lfuHalvingIntervalAccesses must be 0 (auto) or an integer in [1, 2^30]",
  );
  return Object.freeze(resolved);
}

/** Checks the settings configure() may change. */
export function checkBounds(policy: EvictionPolicy, entriesMax: number, bytesMax: number): void {
  assert(EVICTION_POLICIES.includes(policy), "StoreOptions.policy must be lru, lfu, fifo or random");
  assert(isSafeIntegerAtLeast(entriesMax, 1), "StoreOptions.entriesMax must be a safe integer >= 1");
  assert(isSafeIntegerAtLeast(bytesMax, 1), "StoreOptions.bytesMax must be a safe integer >= 1");
}
