import type { ConfChange } from "@distcache/raft";
import type { GroupStatus } from "../consensus/multi-raft.js";
import type { MoveCluster } from "./replica-move.js";
import { UnreachableError, type NodeGroups } from "./node-groups.js";

/** No node answered as the group's leader: retried by the move like a leader change. */
class NoLeaderError extends Error {
  override name = "NotLeaderError";
}

/**
 * MoveCluster over the network: each step goes to the node that must take it, the
 * group's leader found by asking the nodes that may hold it (the last leader first).
 */
export class RemoteMoveCluster implements MoveCluster {
  private readonly leaders = new Map<number, string>();

  constructor(
    private readonly nodes: NodeGroups,
    /** The nodes that may hold a replica of any group (the meta document's nodes). */
    private readonly candidates: () => readonly string[],
    /** Told when a replica could not be dropped because its node did not answer. */
    private readonly onUnreachableDrop: (node: string, group: number, err: Error) => void = () => undefined,
  ) {}

  /** The status of the group's leader (the highest term among those that say they lead); undefined when none answers. */
  async groupStatus(group: number): Promise<GroupStatus | undefined> {
    const known = this.leaders.get(group);
    if (known !== undefined) {
      const s = (await this.nodes.statuses(known, [group]))?.get(group);
      if (s?.leading) return s;
    }
    const answers = await Promise.all(this.candidates().map(async (id) => ({ id, s: (await this.nodes.statuses(id, [group]))?.get(group) })));
    const leading = answers.filter((a) => a.s?.leading).sort((a, b) => b.s!.term - a.s!.term)[0];
    if (!leading) {
      this.leaders.delete(group);
      return undefined;
    }
    this.leaders.set(group, leading.id);
    return leading.s;
  }

  changeMembership(group: number, change: ConfChange): Promise<void> {
    return this.nodes.changeMembership(this.leader(group), group, change);
  }

  async transferLeader(group: number, to: string | undefined): Promise<void> {
    const leader = await this.nodes.transferLeadership(this.leader(group), group, to);
    this.leaders.set(group, leader);
  }

  addReplica(node: string, group: number, bootstrapVoters: readonly string[]): Promise<void> {
    return this.nodes.addReplica(node, group, bootstrapVoters);
  }

  /**
   * Drops `node`'s replica. A node that does not answer (gone for good, or down) is let
   * be: the group no longer counts it, and the placement driver drops the replica if the
   * node comes back.
   */
  async removeReplica(node: string, group: number): Promise<void> {
    try {
      await this.nodes.removeReplica(node, group);
    } catch (err) {
      if (!(err instanceof UnreachableError)) throw err;
      this.onUnreachableDrop(node, group, err);
    }
  }

  async appliedIndex(node: string, group: number): Promise<number | undefined> {
    return (await this.nodes.statuses(node, [group]))?.get(group)?.applied;
  }

  private leader(group: number): string {
    const id = this.leaders.get(group);
    if (id === undefined) throw new NoLeaderError(`group ${group}: no leader known`);
    return id;
  }
}
