import type { GroupStatus } from "../consensus/multi-raft.js";
import { allGroupIds, type LocalGroups, type NodeGroups } from "./node-groups.js";

/** NodeGroups that reach this node's own groups directly and every other node through `remote`. */
export function routedNodeGroups(selfId: string, local: LocalGroups, remote: NodeGroups, transferTimeoutMs: number): NodeGroups {
  return {
    statuses: async (node, groups) => {
      if (node !== selfId) return remote.statuses(node, groups);
      const ids = groups.length > 0 ? groups : allGroupIds(local.shardCount);
      const out = new Map<number, GroupStatus>();
      for (const id of ids) {
        const s = local.groupStatus(id);
        if (s) out.set(id, s);
      }
      return out;
    },
    changeMembership: (node, group, change) => (node === selfId ? local.changeMembership(group, change) : remote.changeMembership(node, group, change)),
    transferLeadership: (node, group, to) =>
      node === selfId ? local.transferLeadership(group, to, transferTimeoutMs) : remote.transferLeadership(node, group, to),
    addReplica: (node, group, voters) => (node === selfId ? local.addGroup(group, voters) : remote.addReplica(node, group, voters)),
    removeReplica: (node, group) => (node === selfId ? local.removeGroup(group) : remote.removeReplica(node, group)),
  };
}
