export { StoreAssertionError } from "./assert.js";
export { COUNTER_MAX, COUNTER_MIN } from "./counter.js";
export { ENTRY_MEMORY_OVERHEAD_BYTES, entryBytes, isWellFormedKey, utf8Length } from "./entry-bytes.js";
export type { Entry } from "./entry.js";
export { EVICTION_POLICIES, type EvictionPolicy } from "./eviction-order.js";
export { Prng, type PrngState } from "./prng.js";
export { SNAPSHOT_FORMAT_VERSION } from "./snapshot-format.js";
export { STORE_OPTIONS_DEFAULT, SWEEP_KEYS_MAX_LIMIT, type ResolvedStoreOptions, type StoreOptions } from "./store-options.js";
export { StoreSnapshotError } from "./store-snapshot-error.js";
export { DigestHasher } from "./byte-sink.js";
export {
  DIGEST_STEP_COST_DEFAULT,
  snapshotChunkBytesMax,
  SNAPSHOT_CHUNK_BYTES_DEFAULT,
  SNAPSHOT_CHUNK_ENTRIES_DEFAULT,
  SNAPSHOT_CHUNK_ENTRIES_LIMIT,
  type StoreSnapshot,
} from "./store-snapshot.js";
export {
  Store,
  type ConfigureOptions,
  type IncrResult,
  type OrderedEntry,
  type SetCondition,
  type SetOptions,
  type SetResult,
  type SnapshotCapture,
  type StoreChange,
  type StoreRestorer,
  type StoreStats,
} from "./store.js";
