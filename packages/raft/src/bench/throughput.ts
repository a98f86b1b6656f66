#!/usr/bin/env node
import { MemoryStorage } from "../memory-storage.js";
import type { PeerMessage } from "../message.js";
import { SeededRandom } from "../random.js";
import { RaftNode } from "../raft-node.js";
import type { NodeId } from "../types.js";

/**
 * Micro-benchmark: committed entries per second of an in-process 3-node group
 * with an in-memory transport and in-memory storage. It measures the core's
 * own cost (the replication path: propose, Ready, append, ack, commit, apply),
 * not disks or sockets.
 *
 * One host cycle = propose `batch` entries at the leader, let every node handle
 * one Ready (persist, send, apply, advance), then deliver every queued message.
 * Proposals therefore overlap with earlier ones still in flight (pipelining).
 *
 *   node packages/raft/dist/bench/throughput.js [--runs 5] [--seconds 1]
 */
const VOTERS = ["n1", "n2", "n3"] as NodeId[];
const PAYLOAD_BYTES = [16, 1024];
const BATCHES = [1, 16, 256];
const CYCLES_MAX = 50_000_000;

interface Member {
  readonly node: RaftNode;
  readonly storage: MemoryStorage;
  inbox: PeerMessage[];
}

function createGroup(): Map<NodeId, Member> {
  const group = new Map<NodeId, Member>();
  for (const [i, id] of VOTERS.entries()) {
    const storage = new MemoryStorage(VOTERS);
    const node = new RaftNode({ config: { id, voters: VOTERS }, storage, random: new SeededRandom(i + 1) });
    group.set(id, { node, storage, inbox: [] });
  }
  return group;
}

/** One host cycle for every member; returns the entries the leader applied. */
function cycle(group: Map<NodeId, Member>, leader: NodeId): number {
  let applied = 0;
  for (const [id, member] of group) {
    const ready = member.node.ready();
    if (ready === undefined) continue;
    member.storage.append(ready.entries);
    if (ready.hardState !== undefined) member.storage.setHardState(ready.hardState);
    for (const message of ready.immediateMessages) group.get(message.to)!.inbox.push(message);
    for (const message of ready.messages) group.get(message.to)!.inbox.push(message);
    if (id === leader) applied += ready.committedEntries.length;
    member.node.advance(ready);
  }
  for (const member of group.values()) {
    const inbox = member.inbox;
    member.inbox = [];
    for (const message of inbox) member.node.step(message);
  }
  return applied;
}

function electLeader(group: Map<NodeId, Member>): NodeId {
  const leader = VOTERS[0]!;
  group.get(leader)!.node.campaign();
  for (let i = 0; i < 100 && group.get(leader)!.node.role !== "leader"; i += 1) cycle(group, leader);
  for (let i = 0; i < 10; i += 1) cycle(group, leader);
  if (group.get(leader)!.node.role !== "leader") throw new Error("no leader elected");
  return leader;
}

/** Committed entries per second for one configuration, over about `seconds`. */
function measure(payloadBytes: number, batch: number, seconds: number): number {
  const group = createGroup();
  const leader = electLeader(group);
  const leaderNode = group.get(leader)!.node;
  const payload = new Uint8Array(payloadBytes).fill(7);
  let committed = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  for (let cycles = 0; cycles < CYCLES_MAX; cycles += 1) {
    for (let i = 0; i < batch; i += 1) {
      const result = leaderNode.propose(payload);
      if (!result.accepted) throw new Error(`proposal dropped: ${result.reason}`);
    }
    committed += cycle(group, leader);
    // The clock is read only every 64 cycles so that it does not dominate small batches.
    if ((cycles & 63) === 0 && performance.now() >= deadline) break;
  }
  return committed / ((performance.now() - started) / 1000);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  if (index < 0) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!(value > 0)) throw new Error(`${name} needs a positive number`);
  return value;
}

function main(): void {
  const runs = flag("--runs", 5);
  const seconds = flag("--seconds", 1);
  console.log(`raft core throughput: 3 nodes in-process, in-memory transport and storage; median of ${runs} runs of ${seconds} s (node ${process.version})`);
  console.log("");
  console.log("| payload | batch (proposals per cycle) | committed entries/s | MiB/s |");
  console.log("|---|---|---|---|");
  measure(16, 16, 0.5); // warm up the JIT before the first measured configuration
  for (const payloadBytes of PAYLOAD_BYTES) {
    for (const batch of BATCHES) {
      const rates = Array.from({ length: runs }, () => measure(payloadBytes, batch, seconds));
      const rate = median(rates);
      const mib = (rate * payloadBytes) / (1 << 20);
      const label = payloadBytes >= 1024 ? `${payloadBytes / 1024} KiB` : `${payloadBytes} B`;
      console.log(`| ${label} | ${batch} | ${Math.round(rate).toLocaleString("en-US")} | ${mib.toFixed(1)} |`);
    }
  }
}

main();
