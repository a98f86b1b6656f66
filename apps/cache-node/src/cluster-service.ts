import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { ClusterService } from "@distcache/proto";
import type { Ring } from "@distcache/ring";
import type { ConsensusPort } from "./consensus-port.js";

export interface ClusterServiceDeps {
  nodeId: string;
  clientAddress: () => string;
  ring: Ring;
  consensus: ConsensusPort;
}

const notYet = (what: string) => () => {
  throw new ConnectError(`${what} needs a multi-node cluster; this node runs standalone`, Code.Unimplemented);
};

/** ClusterService for a standalone node: it reports itself as the only member and leader. */
export function createClusterService(deps: ClusterServiceDeps): Partial<ServiceImpl<typeof ClusterService>> {
  const topology = () => ({
    epoch: 1n,
    ring: { shardCount: deps.consensus.shardCount, pointsPerShard: deps.ring.pointsPerShard },
    nodes: [{ id: deps.nodeId, clientAddress: deps.clientAddress(), peerAddress: "" }],
    shards: Array.from({ length: deps.consensus.shardCount }, (_, id) => {
      const status = deps.consensus.status(id);
      return { id, replicas: [deps.nodeId], learners: [], leaderId: status.leaderId, term: BigInt(status.term) };
    }),
  });
  return {
    getTopology: () => ({ topology: topology() }),
    addNode: notYet("AddNode"),
    removeNode: notYet("RemoveNode"),
    transferLeader: notYet("TransferLeader"),
  };
}
