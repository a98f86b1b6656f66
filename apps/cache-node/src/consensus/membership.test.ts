import { asNodeId, type ConfChange } from "@distcache/raft";
import { afterEach, describe, expect, it } from "vitest";
import type { MultiRaft } from "./multi-raft.js";
import { closeTestClusters, leaderOf, openTestCluster, setOp, until } from "./testing/multi-raft-harness.js";

/*
 * Membership changes of a shard's group through the host: a node that holds a replica but
 * is no member of the group (a spare) joins as a learner, catches up by log or by
 * snapshot, is promoted, and a voter leaves, while writes go on.
 */

const ids = ["n1", "n2", "n3"];
afterEach(closeTestClusters);

const change = (kind: ConfChange["kind"], node: string): ConfChange => ({ kind, node: asNodeId(node) });

const read = (node: MultiRaft, shard: number, key: string) => {
  const entry = node.replica(shard).store.peek(key, Date.now());
  return entry ? new TextDecoder().decode(entry.value) : undefined;
};

/** A membership change at whoever leads shard, retried while leadership moves. */
async function changeAtLeader(nodes: ReadonlyMap<string, MultiRaft>, shard: number, c: ConfChange): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const leader = await leaderOf(nodes, shard);
    try {
      await nodes.get(leader)!.changeMembership(shard, c);
      return leader;
    } catch (err) {
      if (attempt > 20 || !(err instanceof Error) || !["NotLeaderError", "WriteLostError", "MembershipChangeError"].includes(err.name)) throw err;
      if (err.name === "MembershipChangeError" && (err as { invalid?: boolean }).invalid) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function write(nodes: ReadonlyMap<string, MultiRaft>, shard: number, key: string, value: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await nodes.get(await leaderOf(nodes, shard))!.propose(shard, setOp(key, value));
      return;
    } catch (err) {
      if (attempt > 20 || !(err instanceof Error) || !["NotLeaderError", "WriteLostError"].includes(err.name)) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe("membership changes", () => {
  it("a spare joins a group as a learner, catches up from the log, is promoted, and a voter leaves", async () => {
    const { nodes, fatal } = await openTestCluster({ ids, spares: ["n4"], shards: 2, readStampLagMsMax: 3_600_000 });
    for (let i = 0; i < 20; i++) await write(nodes, 0, `k${i}`, `v${i}`);
    const n4 = nodes.get("n4")!;
    // Not a member: it campaigns for nothing and leads nothing.
    expect(n4.ledShards()).toEqual([]);
    expect(n4.voters(0)).toEqual(ids);

    await changeAtLeader(nodes, 0, change("addLearner", "n4"));
    const leader = nodes.get(await leaderOf(nodes, 0))!;
    expect(leader.learners(0)).toEqual(["n4"]);
    await until(() => read(n4, 0, "k19") === "v19", "the learner applied the log");

    await changeAtLeader(nodes, 0, change("promoteLearner", "n4"));
    const leaving = ids.find((id) => id !== "n4" && !nodes.get(id)!.ledShards().includes(0))!;
    await changeAtLeader(nodes, 0, change("removeNode", leaving));
    const expected = ["n1", "n2", "n3", "n4"].filter((id) => id !== leaving);
    for (const id of expected) await until(() => nodes.get(id)!.voters(0).join() === expected.join(), `${id} sees voters ${expected.join()}`);

    for (let i = 20; i < 30; i++) await write(nodes, 0, `k${i}`, `v${i}`);
    await n4.readBarrier(0);
    expect(read(n4, 0, "k0")).toBe("v0");
    expect(read(n4, 0, "k29")).toBe("v29");
    // The other shard's group never changed.
    expect(leader.voters(1)).toEqual(ids);
    expect(fatal).toEqual([]);
  });

  it("a learner whose leader compacted its log is caught up by a snapshot", async () => {
    const { nodes, fatal } = await openTestCluster({ ids, spares: ["n4"], shards: 1, snapshotEntries: 10, readStampLagMsMax: 3_600_000 });
    for (let i = 0; i < 40; i++) await write(nodes, 0, `k${i % 15}`, `v${i}`);
    const leaderId = await changeAtLeader(nodes, 0, change("addLearner", "n4"));
    const n4 = nodes.get("n4")!;
    await until(() => read(n4, 0, "k9") === "v39" && read(n4, 0, "k0") === "v30", "the learner holds the leader's state");
    expect(n4.snapshots.stats.installed).toBeGreaterThanOrEqual(1);
    expect(nodes.get(leaderId)!.snapshots.stats.sent).toBeGreaterThanOrEqual(1);
    expect(fatal).toEqual([]);
  });

  it("a node with no replica of a shard drops its group's messages, creates the replica, and then catches up", async () => {
    const { nodes, fatal } = await openTestCluster({ ids, spares: ["n4"], sparesHost: "none", shards: 2, readStampLagMsMax: 3_600_000 });
    for (let i = 0; i < 10; i++) await write(nodes, 1, `k${i}`, `v${i}`);
    const n4 = nodes.get("n4")!;
    expect(n4.hosts(1)).toBe(false);
    // Added first: the leader's appends reach a node that does not host the group yet.
    await changeAtLeader(nodes, 1, change("addLearner", "n4"));
    await until(() => n4.stats.peerMessagesForOtherShards > 0, "n4 dropped messages for a shard it does not host");
    await n4.addGroup(1, ids);
    expect(n4.hosts(1)).toBe(true);
    expect(n4.hosts(0)).toBe(false);
    await until(() => read(n4, 1, "k9") === "v9", "the new replica caught up");
    await changeAtLeader(nodes, 1, change("promoteLearner", "n4"));
    await write(nodes, 1, "after", "1");
    await n4.readBarrier(1);
    expect(read(n4, 1, "after")).toBe("1");
    await expect(n4.addGroup(7, ids)).rejects.toThrow(/no shard 7/);
    expect(fatal).toEqual([]);
  });

  it("a replica taken out of its group is removed; given the group again, it starts from the term and vote the old one left", async () => {
    const { nodes, groupLogs, fatal } = await openTestCluster({ ids, spares: ["n4"], shards: 1, readStampLagMsMax: 3_600_000 });
    for (let i = 0; i < 10; i++) await write(nodes, 0, `k${i}`, `v${i}`);
    await changeAtLeader(nodes, 0, change("addLearner", "n4"));
    await changeAtLeader(nodes, 0, change("promoteLearner", "n4"));
    const leaving = ids.find((id) => !nodes.get(id)!.ledShards().includes(0))!;
    await changeAtLeader(nodes, 0, change("removeNode", leaving));
    const gone = nodes.get(leaving)!;
    const termAtRemoval = gone.groupStatus(0)!.term;
    // Writes go on while the replica is removed.
    const writing = (async () => {
      for (let i = 10; i < 30; i++) await write(nodes, 0, `k${i}`, `v${i}`);
    })();
    await gone.removeGroup(0);
    await writing;
    expect(gone.hosts(0)).toBe(false);
    expect(groupLogs.get(leaving)!.groups()).toEqual([]);
    await expect(gone.readBarrier(0)).rejects.toMatchObject({ name: "NotLeaderError" });
    await expect(nodes.get(await leaderOf(nodes, 0))!.changeMembership(0, change("addLearner", "mallory"))).rejects.toMatchObject({
      name: "MembershipChangeError",
      message: expect.stringContaining("mallory is not a node of the cluster"),
    });
    // Back as a new, empty replica: not from term 0 (it could then vote a second time in a term it voted in).
    await gone.addGroup(0, ids);
    expect(gone.groupStatus(0)!.term).toBeGreaterThanOrEqual(termAtRemoval);
    expect(groupLogs.get(leaving)!.storage(0, []).initialState().hardState.term).toBeGreaterThanOrEqual(termAtRemoval);
    await changeAtLeader(nodes, 0, change("addLearner", leaving));
    await until(() => read(gone, 0, "k29") === "v29", "the replica created again caught up");
    await changeAtLeader(nodes, 0, change("promoteLearner", leaving));
    await write(nodes, 0, "after", "1");
    for (const node of nodes.values()) {
      await node.readBarrier(0);
      expect(read(node, 0, "after")).toBe("1");
    }
    expect(fatal).toEqual([]);
  });

  it("a replica created while its predecessor is still being removed waits for the removal, and keeps its own log", async () => {
    const { nodes, fatal } = await openTestCluster({ ids, spares: ["n4"], shards: 1, readStampLagMsMax: 3_600_000 });
    for (let i = 0; i < 10; i++) await write(nodes, 0, `k${i}`, `v${i}`);
    await changeAtLeader(nodes, 0, change("addLearner", "n4"));
    const n4 = nodes.get("n4")!;
    await until(() => read(n4, 0, "k9") === "v9", "the learner caught up");
    // A rolled-back learner, taken out of the group, whose move is retried while its old replica is still being removed.
    await changeAtLeader(nodes, 0, change("removeNode", "n4"));
    await Promise.all([n4.removeGroup(0), n4.addGroup(0, ids)]);
    expect(n4.hosts(0)).toBe(true);
    await changeAtLeader(nodes, 0, change("addLearner", "n4"));
    await write(nodes, 0, "again", "1");
    await until(() => read(n4, 0, "again") === "1" && read(n4, 0, "k0") === "v0", "the new replica caught up");
    expect(fatal).toEqual([]);
  });

  it("refuses an invalid change, and a second change while one is uncommitted, with clear errors", async () => {
    const { nodes } = await openTestCluster({ ids, spares: ["n4"], shards: 1 });
    // A write first: a leader takes membership changes once an entry of its term committed.
    await write(nodes, 0, "k", "v");
    const leader = nodes.get(await leaderOf(nodes, 0))!;
    await expect(leader.changeMembership(0, change("promoteLearner", "n4"))).rejects.toMatchObject({
      name: "MembershipChangeError",
      invalid: true,
      message: expect.stringContaining("n4 is not a learner"),
    });
    const first = leader.changeMembership(0, change("addLearner", "n4"));
    await expect(leader.changeMembership(0, change("removeNode", "n4"))).rejects.toMatchObject({ name: "MembershipChangeError", invalid: false });
    await first;
    const follower = ids.find((id) => nodes.get(id) !== leader)!;
    await expect(nodes.get(follower)!.changeMembership(0, change("removeNode", "n4"))).rejects.toMatchObject({ name: "NotLeaderError" });
  });
});
