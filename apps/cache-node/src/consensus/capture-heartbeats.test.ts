import { afterEach, describe, expect, it } from "vitest";
import type { MultiRaft } from "./multi-raft.js";
import type { ShardReplica } from "./shard-replica.js";
import { closeTestClusters, leaderOf, openTestCluster, setOp } from "./testing/multi-raft-harness.js";

// A snapshot capture of a big shard takes many turns of the event loop (1M keys on a
// shard: more than a second). It used to hold the shard's Readys back all that time, so
// its leader sent no heartbeat for longer than an election timeout and the shard's term
// rose at each snapshot. Readys of a held replica are now taken, persisted and sent;
// only their committed entries wait for the release. `tools/scripts/big-shard-terms.mjs`
// shows the same on real nodes.

afterEach(closeTestClusters);

const replicaOf = (node: MultiRaft, shard: number) => (node as unknown as { replicaOf(s: number): ShardReplica }).replicaOf(shard);

describe("a leader whose replica is held by a capture", () => {
  it("keeps its followers (no election) and its writes apply once the hold is released", async () => {
    const { nodes } = await openTestCluster({ ids: ["a", "b", "c"], shards: 1 });
    const leader = await leaderOf(nodes, 0);
    const term = nodes.get(leader)!.status(0).term;
    await nodes.get(leader)!.propose(0, setOp("before", "v"));
    // Hold the leader's replica for five election timeouts (10 ticks of 10 ms), as a long capture does.
    const release = await replicaOf(nodes.get(leader)!, 0).drain.hold();
    const applied = nodes.get(leader)!.replica(0).appliedIndex;
    const write = nodes.get(leader)!.propose(0, setOp("during", "v"));
    await new Promise((r) => setTimeout(r, 500));
    // Nothing was applied to the held replica, yet the followers took the entry.
    expect(nodes.get(leader)!.replica(0).appliedIndex).toBe(applied);
    for (const node of nodes.values()) expect(node.status(0)).toMatchObject({ term, leaderId: leader });
    release();
    nodes
      .get(leader)!
      .propose(0, setOp("after", "v"))
      .catch(() => undefined);
    await expect(write).resolves.toBeDefined();
    expect(nodes.get(leader)!.replica(0).appliedIndex).toBeGreaterThan(applied);
    expect(nodes.get(leader)!.status(0).term).toBe(term);
  });
});
