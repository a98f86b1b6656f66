import { create } from "@bufbuild/protobuf";
import { PROTOCOL_LIMITS } from "@distcache/proto/limits";
import { EvictionPolicy as ApiPolicy } from "@distcache/proto";
import { ConfigureStoreSchema, EvictionPolicy as WirePolicy, type ConfigureStore } from "@distcache/proto/raft";
import { ENTRY_MEMORY_OVERHEAD_BYTES, STORE_OPTIONS_DEFAULT, type EvictionPolicy } from "@distcache/store";
import type { Limits, NodeConfig } from "../config/config.js";

/**
 * A shard's store settings: replicated state (invariants 3 and 10 of docs/design.md). They change
 * only through ConfigureStore log entries, and travel in snapshots and digests with the
 * store.
 */
export interface StoreSettings {
  readonly policy: EvictionPolicy;
  readonly entriesMax: number;
  readonly bytesMax: number;
}

/**
 * What every replica of a new shard starts from, whatever its node's flags, until the
 * shard's first leader proposes the settings its flags give (the seed). Writes that
 * apply before the seed therefore apply the same everywhere. The bytes bound holds one
 * largest entry the protocol allows.
 */
export const BOOTSTRAP_STORE_SETTINGS: StoreSettings = Object.freeze({
  policy: STORE_OPTIONS_DEFAULT.policy,
  entriesMax: STORE_OPTIONS_DEFAULT.entriesMax,
  bytesMax: STORE_OPTIONS_DEFAULT.bytesMax,
});

/** The per-shard settings a node's flags ask for: what it seeds a new shard with. */
export function flagSettings(config: Pick<NodeConfig, "evictionPolicy" | "entriesMax" | "bytesMax" | "shards">): StoreSettings {
  return {
    policy: config.evictionPolicy,
    entriesMax: Math.floor(config.entriesMax / config.shards),
    bytesMax: Math.floor(config.bytesMax / config.shards),
  };
}

const TO_WIRE: Record<EvictionPolicy, WirePolicy> = { lru: WirePolicy.LRU, lfu: WirePolicy.LFU, fifo: WirePolicy.FIFO, random: WirePolicy.RANDOM };
const TO_API: Record<EvictionPolicy, ApiPolicy> = { lru: ApiPolicy.LRU, lfu: ApiPolicy.LFU, fifo: ApiPolicy.FIFO, random: ApiPolicy.RANDOM };
const FROM_API: ReadonlyMap<number, EvictionPolicy> = new Map(Object.entries(TO_API).map(([name, value]) => [value, name as EvictionPolicy]));

/** A full ConfigureStore command: every field set, so it means the same whatever the shard held before. */
export function configureCommand(settings: StoreSettings): ConfigureStore {
  return create(ConfigureStoreSchema, { policy: TO_WIRE[settings.policy], entriesMax: BigInt(settings.entriesMax), bytesMax: BigInt(settings.bytesMax) });
}

export function apiPolicy(policy: EvictionPolicy): ApiPolicy {
  return TO_API[policy];
}

/** Policies whose victims depend on reads, so they need access hints. */
export function usesAccessHints(policy: EvictionPolicy): boolean {
  return policy === "lru" || policy === "lfu";
}

/** A ConfigureStore request as the edge accepted it: undefined fields keep the shard's current value. */
export interface SettingsChange {
  policy?: EvictionPolicy;
  entriesMax?: number;
  bytesMax?: number;
}

/** The smallest bytes_max a shard may have on this node: room for one largest entry it accepts. */
export function bytesMaxFloor(limits: Pick<Limits, "keyBytesMax" | "valueBytesMax">): number {
  return limits.keyBytesMax + limits.valueBytesMax + ENTRY_MEMORY_OVERHEAD_BYTES;
}

/**
 * Checks a ConfigureStore request's settings at the edge: a known policy (or none), and
 * bounds that are 0 (keep) or within [1 | one largest entry, storeBoundMax]. Returns the
 * change, or the reason it is refused (answered invalid_argument).
 */
export function validateSettingsChange(
  request: { policy: number; entriesMax: bigint; bytesMax: bigint },
  limits: Pick<Limits, "keyBytesMax" | "valueBytesMax">,
): { ok: true; change: SettingsChange } | { ok: false; message: string } {
  const boundMax = BigInt(PROTOCOL_LIMITS.storeBoundMax);
  const change: SettingsChange = {};
  if (request.policy !== ApiPolicy.UNSPECIFIED) {
    const policy = FROM_API.get(request.policy);
    if (policy === undefined) return { ok: false, message: `policy ${request.policy} is not a known eviction policy (lru, lfu, fifo or random)` };
    change.policy = policy;
  }
  if (request.entriesMax > boundMax) return { ok: false, message: `entries_max must be at most ${boundMax}, got ${request.entriesMax}` };
  if (request.entriesMax > 0n) change.entriesMax = Number(request.entriesMax);
  const floor = bytesMaxFloor(limits);
  if (request.bytesMax > boundMax) return { ok: false, message: `bytes_max must be at most ${boundMax}, got ${request.bytesMax}` };
  if (request.bytesMax > 0n && request.bytesMax < BigInt(floor)) {
    return {
      ok: false,
      message:
        `bytes_max must be at least ${floor} (key_bytes_max + value_bytes_max + ${ENTRY_MEMORY_OVERHEAD_BYTES} bytes of entry overhead, ` +
        `one largest entry this node accepts), got ${request.bytesMax}`,
    };
  }
  if (request.bytesMax > 0n) change.bytesMax = Number(request.bytesMax);
  return { ok: true, change };
}

/** A change as the ConfigureStore command that carries it (0 and unspecified keep). */
export function changeCommand(change: SettingsChange): ConfigureStore {
  return create(ConfigureStoreSchema, {
    policy: change.policy === undefined ? WirePolicy.UNSPECIFIED : TO_WIRE[change.policy],
    entriesMax: BigInt(change.entriesMax ?? 0),
    bytesMax: BigInt(change.bytesMax ?? 0),
  });
}

/**
 * The flags of this node that its shards' replicated settings override, one message per
 * flag (empty when they all agree). A flag only seeds new shards; this names each one
 * that differs from what its shards use.
 */
export function ignoredFlagMessages(
  config: Pick<NodeConfig, "evictionPolicy" | "entriesMax" | "bytesMax" | "shards">,
  shards: readonly { shard: number; settings: StoreSettings }[],
): string[] {
  const wanted = flagSettings(config);
  const messages: string[] = [];
  const describe = (values: readonly (string | number)[]): string => {
    const distinct = [...new Set(values)];
    return distinct.length === 1 ? `${distinct[0]}` : distinct.join(" or ");
  };
  const differing = <K extends keyof StoreSettings>(key: K) => shards.filter((s) => s.settings[key] !== wanted[key]);
  const tail = "(set through the log; change with distcache configure)";
  const policies = differing("policy");
  if (policies.length > 0) {
    messages.push(`--eviction-policy ${config.evictionPolicy} ignored: ${shardList(policies)} use ${describe(policies.map((s) => s.settings.policy))} ${tail}`);
  }
  const entries = differing("entriesMax");
  if (entries.length > 0) {
    const used = describe(entries.map((s) => s.settings.entriesMax));
    messages.push(`--entries-max ${config.entriesMax} ignored: ${shardList(entries)} use ${used} entries per shard, not ${wanted.entriesMax} ${tail}`);
  }
  const bytes = differing("bytesMax");
  if (bytes.length > 0) {
    const used = describe(bytes.map((s) => s.settings.bytesMax));
    messages.push(`--bytes-max ${config.bytesMax} ignored: ${shardList(bytes)} use ${used} bytes per shard, not ${wanted.bytesMax} ${tail}`);
  }
  return messages;
}

function shardList(shards: readonly { shard: number }[]): string {
  return shards.length === 1 ? `shard ${shards[0]!.shard}` : `shards ${shards.map((s) => s.shard).join(", ")}`;
}
