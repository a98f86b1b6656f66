import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { ClusterService } from "@distcache/proto";
import type { Ring } from "@distcache/ring";
import type { ClusterMember } from "./cluster-config.js";
import type { ConsensusPort } from "./consensus-port.js";

export interface ClusterServiceDeps {
  nodeId: string;
  members: () => readonly ClusterMember[];
  ring: Ring;
  consensus: ConsensusPort;
}

const notYet = (what: string) => () => {
  throw new ConnectError(`${what} is not available yet: membership is static (set by --initial-cluster)`, Code.Unimplemented);
};

/** ClusterService: topology as this node knows it; membership changes come with the placement driver. */
export function createClusterService(deps: ClusterServiceDeps): Partial<ServiceImpl<typeof ClusterService>> {
  const topology = () => ({
    epoch: 1n,
    ring: { shardCount: deps.consensus.shardCount, pointsPerShard: deps.ring.pointsPerShard },
    nodes: deps.members().map((m) => ({ id: m.id, clientAddress: m.clientAddress, peerAddress: m.peerAddress })),
    shards: Array.from({ length: deps.consensus.shardCount }, (_, id) => {
      const status = deps.consensus.status(id);
      return { id, replicas: deps.consensus.hosts(id) ? deps.consensus.voters(id) : [], learners: [], leaderId: status.leaderId, term: BigInt(status.term) };
    }),
  });
  return {
    getTopology: () => ({ topology: topology() }),
    addNode: notYet("AddNode"),
    removeNode: notYet("RemoveNode"),
    transferLeader: notYet("TransferLeader"),
  };
}
