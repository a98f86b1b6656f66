import type { StoreStats } from "@distcache/store";
import { guard, type CacheHandler, type CacheServiceDeps } from "./service-support.js";

const STAT_NAMES = ["hits", "misses", "evictions", "expirations", "keys", "bytes"] as const;

function statsMessage(stats: StoreStats): Record<(typeof STAT_NAMES)[number], bigint> {
  return {
    hits: BigInt(stats.hits),
    misses: BigInt(stats.misses),
    evictions: BigInt(stats.evictions),
    expirations: BigInt(stats.expirations),
    keys: BigInt(stats.keys),
    bytes: BigInt(stats.bytes),
  };
}

/** Stats of the replicas this node holds, with their digests when asked. */
export function statsHandler(deps: CacheServiceDeps): CacheHandler<"stats"> {
  const { consensus } = deps;
  return (req) =>
    guard(async () => {
      const total: StoreStats = { hits: 0, misses: 0, evictions: 0, expirations: 0, keys: 0, bytes: 0 };
      const shards = [];
      for (let shard = 0; shard < consensus.shardCount; shard++) {
        if (!consensus.hosts(shard)) continue;
        // Hashing a shard is O(keys): the consensus layer does it in short steps, one
        // digest at a time per node (a concurrent Stats with digests waits its turn).
        const digested = req.includeDigests ? await consensus.digest(shard) : undefined;
        const store = consensus.replica(shard).store;
        const stats = store.stats();
        for (const name of STAT_NAMES) total[name] += stats[name];
        const status = consensus.status(shard);
        shards.push({
          shard,
          store: statsMessage(stats),
          // With a digest, the index it was taken at (the replica may have applied more since).
          appliedIndex: BigInt(digested?.appliedIndex ?? status.appliedIndex),
          term: BigInt(status.term),
          leaderId: status.leaderId,
          // The replica's replicated settings, not this node's flags.
          evictionPolicy: store.options.policy,
          entriesMax: BigInt(store.options.entriesMax),
          bytesMax: BigInt(store.options.bytesMax),
          digest: digested?.digest ?? "",
        });
      }
      return { nodeId: deps.nodeId, total: statsMessage(total), shards };
    });
}
