import type { ClusterStats, NodeStats, Topology } from "@distcache/client";
import { jsonLine } from "./format.js";

/*
 * `distcache cluster status`: the topology (nodes, shards, leaders, voters, learners)
 * joined with every node's Stats (each replica's applied index). A node that did not
 * answer Stats shows "-" for its replicas, with a note saying why.
 */

export type ReplicaRole = "leader" | "voter" | "learner";

export interface ReplicaStatus {
  nodeId: string;
  role: ReplicaRole;
  /** The replica's applied index; null when its node did not report the replica. */
  appliedIndex: bigint | null;
  /**
   * The leader's applied index minus the replica's; null when either is unknown. The
   * nodes answer Stats one by one, so a replica reported after the leader may be ahead
   * of it: its lag is then 0.
   */
  lag: bigint | null;
}

export interface ShardStatus {
  id: number;
  leaderId: string | null;
  term: bigint;
  voters: string[];
  learners: string[];
  replicas: ReplicaStatus[];
}

export interface NodeStatus {
  id: string;
  clientAddress: string;
  peerAddress: string;
  /** Whether the node answered Stats. */
  answeredStats: boolean;
}

export interface ClusterStatus {
  epoch: bigint;
  shardCount: number;
  nodes: NodeStatus[];
  shards: ShardStatus[];
  /** Nodes that did not answer Stats, and why. */
  unreachable: { nodeId: string; address: string; error: string }[];
}

function replicaStatus(nodeId: string, role: ReplicaRole, shard: number, byNode: ReadonlyMap<string, NodeStats>, leaderIndex: bigint | null): ReplicaStatus {
  const appliedIndex = byNode.get(nodeId)?.shards.find((s) => s.shard === shard)?.appliedIndex ?? null;
  const behind = leaderIndex === null || appliedIndex === null ? null : leaderIndex - appliedIndex;
  return { nodeId, role, appliedIndex, lag: behind === null ? null : behind > 0n ? behind : 0n };
}

/** Joins the topology and the nodes' Stats answers. */
export function clusterStatus(topology: Topology, stats: ClusterStats): ClusterStatus {
  const byNode = new Map(stats.nodes.map((n) => [n.nodeId, n]));
  const shards = topology.shards.map((s): ShardStatus => {
    const leaderIndex = s.leaderId === null ? null : (byNode.get(s.leaderId)?.shards.find((r) => r.shard === s.id)?.appliedIndex ?? null);
    const role = (id: string): ReplicaRole => (id === s.leaderId ? "leader" : "voter");
    const replicas = [
      ...s.replicas.map((id) => replicaStatus(id, role(id), s.id, byNode, leaderIndex)),
      ...s.learners.map((id) => replicaStatus(id, "learner", s.id, byNode, leaderIndex)),
    ];
    return { id: s.id, leaderId: s.leaderId, term: s.term, voters: [...s.replicas], learners: [...s.learners], replicas };
  });
  return {
    epoch: topology.epoch,
    shardCount: topology.shardCount,
    nodes: topology.nodes.map((n) => ({ id: n.id, clientAddress: n.address, peerAddress: n.peerAddress, answeredStats: byNode.has(n.id) })),
    shards,
    unreachable: stats.unreachable.map((u) => ({ nodeId: u.nodeId, address: u.address, error: u.error.message })),
  };
}

/** Rows as columns padded to their widest cell, two spaces apart, trailing spaces trimmed. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join("  ")
      .trimEnd(),
  );
}

const text = (value: bigint | null): string => (value === null ? "-" : value.toString());
const list = (ids: readonly string[]): string => (ids.length === 0 ? "-" : ids.join(","));

function nodeRows(status: ClusterStatus): string[][] {
  const rows = [["NODE", "CLIENT ADDRESS", "PEER ADDRESS", "STATS"]];
  for (const n of status.nodes) rows.push([n.id, n.clientAddress || "-", n.peerAddress || "-", n.answeredStats ? "ok" : "-"]);
  return rows;
}

function shardRows(status: ClusterStatus): string[][] {
  const rows = [["SHARD", "LEADER", "TERM", "VOTERS", "LEARNERS", "REPLICA", "ROLE", "APPLIED", "LAG"]];
  for (const s of status.shards) {
    const head = [String(s.id), s.leaderId ?? "(none)", s.term.toString(), list(s.voters), list(s.learners)];
    if (s.replicas.length === 0) rows.push([...head, "-", "", "", ""]);
    s.replicas.forEach((r, i) => rows.push([...(i === 0 ? head : ["", "", "", "", ""]), r.nodeId, r.role, text(r.appliedIndex), text(r.lag)]));
  }
  return rows;
}

/** Why some cells are "-": nodes that did not answer Stats, or answered without a replica the topology names. */
function notes(status: ClusterStatus): string[] {
  const lines = status.unreachable.map((u) => `${u.nodeId} did not answer Stats: ${u.error}`);
  const answered = new Set(status.nodes.filter((n) => n.answeredStats).map((n) => n.id));
  for (const n of status.nodes) {
    if (!answered.has(n.id) && !status.unreachable.some((u) => u.nodeId === n.id)) lines.push(`${n.id} was not asked for Stats: no address to reach it at`);
  }
  const missing = new Map<string, number[]>();
  for (const s of status.shards) {
    for (const r of s.replicas) if (answered.has(r.nodeId) && r.appliedIndex === null) missing.set(r.nodeId, [...(missing.get(r.nodeId) ?? []), s.id]);
  }
  for (const [nodeId, shards] of missing) lines.push(`${nodeId} reported no replica of shard(s) ${shards.join(",")} (not created there yet, or removed)`);
  return lines.map((line) => `  ${line}`);
}

/** The status as tables for people, or one JSON document (64-bit numbers as strings). */
export function formatClusterStatus(status: ClusterStatus, json: boolean): string {
  if (json) return jsonLine(status);
  const lines = [
    `epoch ${status.epoch}, ${status.shardCount} shards, ${status.nodes.length} nodes`,
    "",
    ...table(nodeRows(status)),
    "",
    ...table(shardRows(status)),
  ];
  const footnotes = notes(status);
  if (footnotes.length > 0) lines.push("", "notes:", ...footnotes);
  return lines.map((l) => `${l}\n`).join("");
}

/** The epoch after a membership change. */
export function formatEpoch(nodeId: string, epoch: bigint, json: boolean): string {
  return json ? jsonLine({ nodeId, epoch }) : `${epoch}\n`;
}
