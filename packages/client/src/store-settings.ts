import { EvictionPolicy, type ConfigureStoreRequest, type StoreSettings as StoreSettingsMessage } from "@distcache/proto";
import { PROTOCOL_LIMITS } from "@distcache/proto/limits";
import { InvalidArgumentError } from "./errors.js";
import { checkShard } from "./request-checks.js";

/** Which entry a full shard evicts first. */
export type EvictionPolicyName = "lru" | "lfu" | "fifo" | "random";

/**
 * A change of shards' store settings (replicated: it goes through each shard's log).
 * Left-out fields keep each shard's current value; `shards` left out means every shard.
 */
export interface StoreSettingsChange {
  shards?: readonly number[];
  policy?: EvictionPolicyName;
  /** Maximum keys per shard, at least 1. */
  entriesMax?: number | bigint;
  /** Maximum accounted bytes per shard; the node refuses less than one largest entry it accepts. */
  bytesMax?: number | bigint;
}

/** One shard's store settings in force. */
export interface ShardStoreSettings {
  shard: number;
  policy: EvictionPolicyName;
  entriesMax: number;
  bytesMax: number;
}

const TO_API: Record<EvictionPolicyName, EvictionPolicy> = {
  lru: EvictionPolicy.LRU,
  lfu: EvictionPolicy.LFU,
  fifo: EvictionPolicy.FIFO,
  random: EvictionPolicy.RANDOM,
};
const FROM_API = new Map<number, EvictionPolicyName>(Object.entries(TO_API).map(([name, value]) => [value, name as EvictionPolicyName]));

function boundOf(value: unknown, field: string): bigint {
  if (value === undefined) return 0n;
  const ok = (typeof value === "number" && Number.isSafeInteger(value)) || typeof value === "bigint";
  const n = ok ? BigInt(value as number | bigint) : -1n;
  if (n < 1n || n > BigInt(PROTOCOL_LIMITS.storeBoundMax))
    throw new InvalidArgumentError(`${field} must be an integer in [1, ${PROTOCOL_LIMITS.storeBoundMax}], got ${String(value)}`);
  return n;
}

/** The request for a change, checked before any I/O (InvalidArgumentError). */
export function configureStoreRequest(change: StoreSettingsChange): Pick<ConfigureStoreRequest, "shards" | "policy" | "entriesMax" | "bytesMax"> {
  if (typeof change !== "object" || change === null) throw new InvalidArgumentError("configureStore takes an object of settings");
  const shards = change.shards ?? [];
  if (!Array.isArray(shards)) throw new InvalidArgumentError("shards must be an array of shard numbers");
  for (const shard of shards) checkShard(shard);
  let policy = EvictionPolicy.UNSPECIFIED;
  if (change.policy !== undefined) {
    if (!Object.hasOwn(TO_API, change.policy)) throw new InvalidArgumentError(`policy must be one of lru, lfu, fifo, random, got ${String(change.policy)}`);
    policy = TO_API[change.policy];
  }
  return { shards: [...shards], policy, entriesMax: boundOf(change.entriesMax, "entriesMax"), bytesMax: boundOf(change.bytesMax, "bytesMax") };
}

export function shardSettingsFromMessage(message: StoreSettingsMessage): ShardStoreSettings {
  return {
    shard: message.shard,
    policy: FROM_API.get(message.policy) ?? "lru",
    entriesMax: Number(message.entriesMax),
    bytesMax: Number(message.bytesMax),
  };
}
