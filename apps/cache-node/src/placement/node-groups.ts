import type { ConfChange } from "@distcache/raft";
import type { GroupStatus } from "../consensus/multi-raft.js";

/**
 * The Raft groups of the cluster's nodes, each reached by its id (over
 * ReplicaControlService). Failures keep the class names of the node's own errors
 * (NotLeaderError, MembershipChangeError with `invalid`, ...); a node that does not
 * answer fails with UnreachableError.
 */
export interface NodeGroups {
  /** `node`'s replicas of `groups` (all it holds when empty), by group; undefined when it does not answer. */
  statuses(node: string, groups: readonly number[]): Promise<Map<number, GroupStatus> | undefined>;
  /** One membership change at `node`, which must lead the group; resolved once committed. */
  changeMembership(node: string, group: number, change: ConfChange): Promise<void>;
  /** Moves the group's leadership from `node` (its leader) to `to`; resolves with the new leader. */
  transferLeadership(node: string, group: number, to: string | undefined): Promise<string>;
  /** `node` creates its empty replica of the group, with the group's bootstrap voters. */
  addReplica(node: string, group: number, bootstrapVoters: readonly string[]): Promise<void>;
  /** `node` drops its replica of the group. */
  removeReplica(node: string, group: number): Promise<void>;
}

/** What this node's own groups answer with (MultiRaft): what control calls act on, and the driver reaches directly. */
export interface LocalGroups {
  readonly shardCount: number;
  groupStatus(group: number): GroupStatus | undefined;
  changeMembership(group: number, change: ConfChange): Promise<void>;
  transferLeadership(group: number, to: string | undefined, timeoutMs: number): Promise<string>;
  addGroup(group: number, bootstrapVoters: readonly string[]): Promise<void>;
  removeGroup(group: number): Promise<void>;
}

/** Every group id of a cluster of `shardCount` shards: the shards', then the meta group's. */
export function allGroupIds(shardCount: number): number[] {
  return Array.from({ length: shardCount + 1 }, (_, id) => id);
}

/** A node that did not answer a control call (down, unreachable, or too slow). */
export class UnreachableError extends Error {
  override name = "UnreachableError";
}
