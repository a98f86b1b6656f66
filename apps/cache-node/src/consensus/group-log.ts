import type { Entry, HardState, NodeId, SnapshotMetadata, Storage } from "@distcache/raft";

/**
 * The Raft group that replicates a shard. Each shard has one group, whose id is the
 * shard number; the layers that speak of groups (the multi-Raft driver, the group log,
 * the peer wire) take their ids from here.
 */
export function groupOfShard(shard: number): number {
  return shard;
}

/**
 * The meta group's id: one past the last shard's (placement/meta-group.ts). The driver
 * runs it like a shard's group; the ring never maps a key to it.
 */
export function metaGroupOf(shardCount: number): number {
  return shardCount;
}

/** Whether `group` is a group of a cluster of `shardCount` shards: a shard's, or the meta group. */
export function isClusterGroup(group: number, shardCount: number): boolean {
  return Number.isSafeInteger(group) && group >= 0 && group <= metaGroupOf(shardCount);
}

/** A shard this node holds a replica of, with the voters its placement gives the shard's group. */
export interface HostedShard {
  shard: number;
  voters: readonly string[];
}

export interface GroupLogWrite {
  group: number;
  /** A snapshot received from the leader: it replaces the group's whole log, before `entries`. */
  snapshot?: SnapshotMetadata | undefined;
  hardState?: HardState | undefined;
  entries: readonly Entry[];
}

/**
 * Durable storage for all Raft groups of a node: one append (and at most one sync) per
 * batch across groups. The node's write-ahead log implements it (wal-group-log.ts);
 * testing/memory-group-log.ts serves tests that run several nodes in one process.
 */
export interface GroupLog {
  storage(group: number, voters: readonly NodeId[]): Storage;
  /**
   * Records a group new to this node with its bootstrap voters (its configuration at
   * index 0), durably, before its replica is created; the same voters again are a no-op.
   */
  bootstrap(group: number, voters: readonly NodeId[]): Promise<void>;
  /** Removes a group's log (its replica left this node), durably; a later bootstrap starts it empty. */
  drop(group: number): Promise<void>;
  /** The groups the log holds, with their bootstrap voters. */
  groups(): { group: number; voters: readonly NodeId[] }[];
  /** Makes every write durable (when sync) before resolving. */
  append(batch: readonly GroupLogWrite[], sync: boolean): Promise<void>;
  /**
   * Drops the group's entries up to `snapshot.index`, which a state-machine snapshot
   * saved durably beforehand covers. Resolves when durable; an older point is a no-op.
   */
  compact(group: number, snapshot: SnapshotMetadata): Promise<void>;
  close(): Promise<void>;
}
