import type { StatsResponse, StoreStats } from "@distcache/proto";
import type { CacheError } from "./errors.js";

/** Counters of one keyspace. */
export interface StoreCounters {
  hits: number;
  misses: number;
  evictions: number;
  expirations: number;
  keys: number;
  bytes: number;
}

/** One shard replica hosted by a node. */
export interface ShardReplicaStats {
  shard: number;
  store: StoreCounters;
  appliedIndex: bigint;
  term: bigint;
  /** The shard's leader as this replica knows it; null when unknown. */
  leaderId: string | null;
  /** The replica's store settings (replicated: changed with configureStore). */
  evictionPolicy: string;
  entriesMax: number;
  bytesMax: number;
  /** Equal on replicas that applied the same log; empty unless asked for (`includeDigests`). */
  digest: string;
}

export interface NodeStats {
  nodeId: string;
  address: string;
  total: StoreCounters;
  shards: ShardReplicaStats[];
}

/** Every node's counters; nodes that did not answer are listed with their error. */
export interface ClusterStats {
  nodes: NodeStats[];
  unreachable: { nodeId: string; address: string; error: CacheError }[];
}

function counters(stats: StoreStats | undefined): StoreCounters {
  return {
    hits: Number(stats?.hits ?? 0n),
    misses: Number(stats?.misses ?? 0n),
    evictions: Number(stats?.evictions ?? 0n),
    expirations: Number(stats?.expirations ?? 0n),
    keys: Number(stats?.keys ?? 0n),
    bytes: Number(stats?.bytes ?? 0n),
  };
}

export function nodeStatsFromMessage(address: string, message: StatsResponse): NodeStats {
  return {
    nodeId: message.nodeId,
    address,
    total: counters(message.total),
    shards: message.shards.map((s) => ({
      shard: s.shard,
      store: counters(s.store),
      appliedIndex: s.appliedIndex,
      term: s.term,
      leaderId: s.leaderId === "" ? null : s.leaderId,
      evictionPolicy: s.evictionPolicy,
      entriesMax: Number(s.entriesMax),
      bytesMax: Number(s.bytesMax),
      digest: s.digest,
    })),
  };
}
