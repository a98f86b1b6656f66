import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ClusterService, NotLeaderSchema, TransferLeaderResponseSchema, type TransferLeaderRequest, type TransferLeaderResponse } from "@distcache/proto";
import type { Ring } from "@distcache/ring";
import type { ClusterMember } from "./cluster-config.js";
import type { ConsensusPort } from "./consensus-port.js";
import { NotLeaderError, TransferError } from "./raft-host/not-leader-error.js";

export interface ClusterServiceDeps {
  nodeId: string;
  members: () => readonly ClusterMember[];
  ring: Ring;
  consensus: ConsensusPort;
  /** Longest a TransferLeader call waits for the new leader when the caller set no deadline. */
  transferTimeoutMs: number;
}

/** Marks a call one node forwarded to another, so it is never forwarded again. */
const FORWARDED_HEADER = "distcache-forwarded";

const notYet = (what: string) => () => {
  throw new ConnectError(`${what} is not available yet: membership is static (set by --initial-cluster)`, Code.Unimplemented);
};

/** ClusterService: topology as this node knows it, and leadership moves; membership changes come with the placement driver. */
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
    transferLeader: (req, ctx) => transferLeader(deps, req, ctx),
  };
}

/**
 * Moves a shard's leadership. The leader does it; any other node that knows the leader
 * forwards the call there once.
 */
async function transferLeader(deps: ClusterServiceDeps, req: TransferLeaderRequest, ctx: HandlerContext): Promise<TransferLeaderResponse> {
  const { consensus } = deps;
  if (req.shard >= consensus.shardCount) {
    throw new ConnectError(`unknown shard ${req.shard}: shards are 0 to ${consensus.shardCount - 1}`, Code.InvalidArgument);
  }
  const to = req.toNodeId || undefined;
  if (to !== undefined && !deps.members().some((m) => m.id === to)) {
    throw new ConnectError(`unknown node "${to}": members are ${deps.members().map((m) => m.id).join(", ")}`, Code.InvalidArgument);
  }
  if (!consensus.hosts(req.shard)) {
    throw new ConnectError(`node ${deps.nodeId} holds no replica of shard ${req.shard}; call one of its replicas`, Code.FailedPrecondition);
  }
  const timeoutMs = ctx.timeoutMs() ?? deps.transferTimeoutMs;
  try {
    return create(TransferLeaderResponseSchema, { leaderId: await consensus.transferLeadership(req.shard, to, timeoutMs) });
  } catch (err) {
    if (err instanceof TransferError) throw new ConnectError(err.message, err.invalid ? Code.InvalidArgument : Code.Unavailable);
    if (!(err instanceof NotLeaderError)) throw err;
    const leaderId = err.leaderId && err.leaderId !== deps.nodeId ? err.leaderId : "";
    const leaderAddress = deps.members().find((m) => m.id === leaderId)?.clientAddress ?? "";
    if (!leaderAddress || ctx.requestHeader.get(FORWARDED_HEADER)) {
      const detail = create(NotLeaderSchema, { shard: req.shard, leaderId, leaderAddress, epoch: 1n });
      const code = leaderId ? Code.FailedPrecondition : Code.Unavailable;
      throw new ConnectError(leaderId ? err.message : `${err.message}; no leader known, retry`, code, undefined, [{ desc: NotLeaderSchema, value: detail }]);
    }
    const leader = createClient(ClusterService, createConnectTransport({ baseUrl: `http://${leaderAddress}`, httpVersion: "1.1" }));
    return leader.transferLeader(req, { timeoutMs, headers: { [FORWARDED_HEADER]: deps.nodeId }, signal: ctx.signal });
  }
}
