import type { Topology as TopologyMessage } from "@distcache/proto";

/** A cluster member as clients see it. */
export interface TopologyNode {
  id: string;
  /** The client address, host:port. */
  address: string;
  /** The peer (Raft) address, host:port, as the node reported it; empty when not reported. */
  peerAddress: string;
}

export interface TopologyShard {
  id: number;
  /** The leader's node id; null while unknown (an election is running). */
  leaderId: string | null;
  /** Node ids of the voting replicas, as far as the answering node knows them. */
  replicas: string[];
  /** Node ids of the learners: replicas catching up before they are promoted to voters. */
  learners: string[];
  term: bigint;
}

/** The cluster as one node reported it: what the SDK routes by. */
export interface Topology {
  epoch: bigint;
  shardCount: number;
  pointsPerShard: number;
  nodes: TopologyNode[];
  shards: TopologyShard[];
}

/** Converts GetTopology's message; rejects one the SDK could not route by. */
export function topologyFromMessage(message: TopologyMessage | undefined): Topology {
  if (!message?.ring || message.ring.shardCount < 1) throw new Error("the node reported no ring parameters");
  return {
    epoch: message.epoch,
    shardCount: message.ring.shardCount,
    pointsPerShard: message.ring.pointsPerShard,
    nodes: message.nodes.map((n) => ({ id: n.id, address: n.clientAddress, peerAddress: n.peerAddress })),
    shards: message.shards.map((s) => ({
      id: s.id,
      leaderId: s.leaderId === "" ? null : s.leaderId,
      replicas: [...s.replicas],
      learners: [...s.learners],
      term: s.term,
    })),
  };
}

/** Whether a reported client address can be dialled: a real host and a non-zero port. */
export function isDiallable(address: string): boolean {
  const match = /^(.*):(\d+)$/.exec(address);
  if (!match) return false;
  const host = match[1]!;
  const port = Number(match[2]);
  return port >= 1 && port <= 65_535 && host !== "" && host !== "0.0.0.0" && host !== "::" && host !== "[::]";
}

/**
 * Replaces addresses that cannot be dialled (a node started with port 0, or bound to
 * all interfaces, may report those). A lone node must be the one that answered, so it
 * gets the answering address; otherwise the address is dropped and the SDK reaches the
 * node through the others' NotLeader answers or the seeds.
 */
export function withDiallableAddresses(topology: Topology, answeredBy: string): Topology {
  const nodes = topology.nodes.map((node) => {
    if (isDiallable(node.address)) return node;
    return { ...node, address: topology.nodes.length === 1 ? answeredBy : "" };
  });
  return { ...topology, nodes };
}
