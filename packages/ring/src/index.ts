export type { Hash64 } from "./xxhash64.js";
export { xxHash64 } from "./xxhash64.js";
export { hashKey, hashKeyBytes } from "./hash-key.js";
export type { RingOptions, ShardId } from "./ring.js";
export { DEFAULT_POINTS_PER_SHARD, POINTS_PER_SHARD_MAX, RING_POINTS_MAX, Ring } from "./ring.js";
