import { describe, expect, it } from "vitest";
import { MemoryStorage } from "./memory-storage.js";
import type { PeerMessage } from "./message.js";
import { SeededRandom } from "./random.js";
import { RaftNode } from "./raft-node.js";
import type { Ready } from "./ready.js";
import type { NodeId } from "./types.js";

function singleNode(): { node: RaftNode; storage: MemoryStorage } {
  const storage = new MemoryStorage();
  const node = new RaftNode({ config: { id: "n1" as NodeId, voters: ["n1" as NodeId] }, storage, random: new SeededRandom(1) });
  return { node, storage };
}

function drain(node: RaftNode, storage: MemoryStorage): Ready[] {
  const readies: Ready[] = [];
  for (let ready = node.ready(); ready !== undefined; ready = node.ready()) {
    storage.append(ready.entries);
    if (ready.hardState !== undefined) storage.setHardState(ready.hardState);
    node.advance(ready);
    readies.push(ready);
  }
  return readies;
}

describe("RaftNode", () => {
  it("a single node leads only once its vote is durable, and commits only after persisting", () => {
    const { node, storage } = singleNode();
    node.campaign();
    const vote = node.ready()!;
    expect(vote.softState?.role).toBe("candidate");
    expect([vote.hardState, vote.mustSync]).toEqual([{ term: 1, vote: "n1", commit: 0 }, true]);
    storage.setHardState(vote.hardState!);
    node.advance(vote);
    const first = node.ready()!;
    expect(first.softState?.role).toBe("leader");
    expect(first.entries).toHaveLength(1);
    expect(first.committedEntries).toHaveLength(0); // its own log counts only once the entry is durable
    storage.append(first.entries);
    node.advance(first);
    const second = node.ready()!;
    expect(second.committedEntries.map((e) => e.kind)).toEqual(["noop"]);
  });

  it("returns the index of an accepted proposal", () => {
    const { node, storage } = singleNode();
    node.campaign();
    drain(node, storage);
    const result = node.propose(new Uint8Array([1, 2]));
    expect(result).toEqual({ accepted: true, term: 1, index: 2 });
    const applied = drain(node, storage).flatMap((r) => r.committedEntries);
    expect(applied.map((e) => e.index)).toEqual([2]);
  });

  it("forbids a second ready() before advance()", () => {
    const { node } = singleNode();
    node.campaign();
    expect(node.ready()).toBeDefined();
    expect(node.hasReady()).toBe(false);
    expect(() => node.ready()).toThrow(/before advance/);
  });

  it("ignores local-only messages and messages for another node arriving from the network", () => {
    const { node } = singleNode();
    const hup = { type: "hup", from: "n1", to: "n1", term: 0, transfer: false } as unknown as PeerMessage;
    expect(node.step(hup)).toBe(false);
    const propose = { type: "proposeConf", from: "n1", to: "n1", term: 0, change: { kind: "removeNode", node: "n1" } } as unknown as PeerMessage;
    expect(node.step(propose)).toBe(false);
    const misrouted = { type: "heartbeat", from: "n9", to: "n2", term: 5, commit: 0, readRound: 0 } as unknown as PeerMessage;
    expect(node.step(misrouted)).toBe(false);
    expect(node.status().term).toBe(0);
    // A node outside our configuration may lead a term we have not heard of (our view can lag): follow it.
    const stranger = { type: "heartbeat", from: "n9", to: "n1", term: 5, commit: 0, readRound: 0 } as unknown as PeerMessage;
    expect(node.step(stranger)).toBe(true);
    expect(node.status()).toMatchObject({ term: 5, lead: "n9" });
  });

  it("a follower forwards its own reads to the leader, and drops a read another node forwarded to it", () => {
    const storage = new MemoryStorage();
    const ids = ["n1", "n2", "n3"] as NodeId[];
    const node = new RaftNode({ config: { id: "n2" as NodeId, voters: ids }, storage, random: new SeededRandom(1) });
    node.step({ type: "heartbeat", from: "n1", to: "n2", term: 1, commit: 0, readRound: 0 } as unknown as PeerMessage);
    drain(node, storage);
    expect(node.status().lead).toBe("n1");
    // n3 took n2 for the leader: forwarded on, the leader's answer would come back to n2 and settle nothing.
    node.step({ type: "readIndex", from: "n3", to: "n2", term: 0, context: new Uint8Array([3]) } as unknown as PeerMessage);
    expect(drain(node, storage).flatMap((r) => r.messages)).toEqual([]);
    expect(node.readIndex(new Uint8Array([2]))).toEqual({ accepted: true });
    const sent = drain(node, storage).flatMap((r) => r.messages);
    expect(sent).toMatchObject([{ type: "readIndex", from: "n2", to: "n1", context: new Uint8Array([2]) }]);
  });

  it("refuses oversized proposals and caps the uncommitted backlog", () => {
    const storage = new MemoryStorage();
    const config = { id: "n1" as NodeId, voters: ["n1", "n2", "n3"] as NodeId[], entryBytesMax: 100, uncommittedEntriesBytesMax: 50 };
    const node = new RaftNode({ config, storage, random: new SeededRandom(1) });
    // Become leader by hand: campaign and feed the votes.
    node.campaign();
    drain(node, storage);
    for (const from of ["n2", "n3"]) {
      node.step({ type: "preVoteResp", from: from as NodeId, to: "n1" as NodeId, term: 1 as never, reject: false });
    }
    drain(node, storage);
    for (const from of ["n2", "n3"]) {
      node.step({ type: "voteResp", from: from as NodeId, to: "n1" as NodeId, term: 1 as never, reject: false });
    }
    expect(node.status().role).toBe("leader");
    expect(node.propose(new Uint8Array(200))).toMatchObject({ accepted: false, reason: "entry-too-large" });
    expect(node.propose(new Uint8Array(40)).accepted).toBe(true);
    expect(node.propose(new Uint8Array(40))).toMatchObject({ accepted: false, reason: "uncommitted-limit", leaderHint: "n1" });
  });

  it("restarts from storage with its term, vote and log", () => {
    const { node, storage } = singleNode();
    node.campaign();
    drain(node, storage);
    node.propose(new Uint8Array([9]));
    drain(node, storage);
    const restarted = new RaftNode({ config: { id: "n1" as NodeId, voters: ["n1" as NodeId] }, storage, random: new SeededRandom(2) });
    expect(restarted.status()).toMatchObject({ role: "follower", term: 1, vote: "n1", commit: 2, applied: 0, lastIndex: 2 });
    const replay = restarted.ready()!;
    expect(replay.committedEntries.map((e) => e.index)).toEqual([1, 2]);
  });

  it("describes a snapshot only at an applied index still in the log, and restarts from it", () => {
    const { node, storage } = singleNode();
    node.campaign();
    drain(node, storage);
    node.propose(new Uint8Array([1]));
    node.propose(new Uint8Array([2]));
    drain(node, storage);
    expect(() => node.snapshotMetadata(4 as never)).toThrow(/not applied/);
    const meta = node.snapshotMetadata(2 as never);
    expect(meta).toEqual({ index: 2, term: 1, confState: { voters: ["n1"], learners: [] } });
    storage.compact(meta);
    expect(() => node.snapshotMetadata(1 as never)).toThrow(/precedes the log/);
    const restarted = new RaftNode({ config: { id: "n1" as NodeId, voters: ["n1" as NodeId] }, storage, random: new SeededRandom(2) });
    expect(restarted.status()).toMatchObject({ commit: 3, applied: 2, lastIndex: 3 });
    expect(restarted.firstIndex).toBe(3);
    expect(restarted.ready()!.committedEntries.map((e) => e.index)).toEqual([3]);
  });

  it("asks for a sync when a vote is cast, unless the planted unsynced-vote bug is on", () => {
    const voteReady = (bugs: { voteWithoutSync?: boolean }): Ready => {
      const config = { id: "n2" as NodeId, voters: ["n1", "n2", "n3"] as NodeId[], testingBugs: bugs };
      const node = new RaftNode({ config, storage: new MemoryStorage(), random: new SeededRandom(1) });
      node.step({
        type: "vote",
        from: "n1" as NodeId,
        to: "n2" as NodeId,
        term: 1 as never,
        lastLogIndex: 0 as never,
        lastLogTerm: 0 as never,
        transfer: false,
      });
      return node.ready()!;
    };
    expect(voteReady({})).toMatchObject({ hardState: { term: 1, vote: "n1" }, mustSync: true });
    expect(voteReady({ voteWithoutSync: true })).toMatchObject({ hardState: { term: 1, vote: "n1" }, mustSync: false });
  });
});
