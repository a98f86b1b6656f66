import { asNodeId } from "@distcache/raft";
import { afterEach, describe, expect, it } from "vitest";
import type { MultiRaft } from "../consensus/multi-raft.js";
import { closeTestClusters, leaderOf, openTestCluster, setOp } from "../consensus/testing/multi-raft-harness.js";
import { moveReplica, type MoveCluster, type MoveStep } from "./replica-move.js";

const ids = ["n1", "n2", "n3"];
afterEach(closeTestClusters);

/** The move's steps made directly on in-process nodes. */
function inProcess(nodes: ReadonlyMap<string, MultiRaft>): MoveCluster {
  const leader = (shard: number) => [...nodes.values()].find((n) => n.groupStatus(shard)?.leading);
  const noLeader = (shard: number) => Object.assign(new Error(`shard ${shard}: no leader`), { name: "NotLeaderError" });
  return {
    groupStatus: (shard) => Promise.resolve(leader(shard)?.groupStatus(shard)),
    changeMembership: (shard, change) => leader(shard)?.changeMembership(shard, change) ?? Promise.reject(noLeader(shard)),
    transferLeader: async (shard, to) => {
      const at = leader(shard);
      if (!at) throw noLeader(shard);
      await at.transferLeadership(shard, to, 2000);
    },
    addReplica: (node, shard, voters) => nodes.get(node)!.addGroup(shard, voters),
    removeReplica: (node, shard) => nodes.get(node)!.removeGroup(shard),
    appliedIndex: (node, shard) => Promise.resolve(nodes.get(node)!.groupStatus(shard)?.applied),
  };
}

const read = (node: MultiRaft, shard: number, key: string) => {
  const entry = node.replica(shard).store.peek(key, Date.now());
  return entry ? new TextDecoder().decode(entry.value) : undefined;
};

/**
 * Keys the writers cycle through: below the harness store's 1,000 entries, so that no
 * acknowledged key is evicted however long a move takes on a loaded machine.
 */
const WRITER_KEYS = 800;

/** Writers that keep setting keys (each to its own name) through whoever leads, recording what was acknowledged. */
function writers(nodes: ReadonlyMap<string, MultiRaft>, shard: number, count: number) {
  const acked: string[] = [];
  let stop = false;
  let serial = 0;
  const loops = Array.from({ length: count }, async () => {
    while (!stop) {
      const key = `w${serial++ % WRITER_KEYS}`;
      try {
        await nodes.get(await leaderOf(nodes, shard))!.propose(shard, setOp(key, key));
        acked.push(key);
      } catch {
        // Not acknowledged (no leader, a leader change, a replica gone): not checked.
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  });
  return {
    acked,
    stop: async () => {
      stop = true;
      await Promise.all(loops);
    },
  };
}

/** A step retried while it may work later (a new leader that has not committed an entry of its term yet, a leader change). */
async function retried(step: () => Promise<void>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (attempt > 100 || (err as { invalid?: boolean }).invalid === true) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

const options = { catchUpTimeoutMs: 3000, stepTimeoutMs: 5000, pollMs: 10 };

describe("moving a replica", () => {
  it("moves the leader's replica to a new node under writes; every acknowledged write reads back there", async () => {
    const { nodes, fatal } = await openTestCluster({ ids, spares: ["n4"], sparesHost: "none", shards: 2, readStampLagMsMax: 3_600_000 });
    const load = writers(nodes, 0, 4);
    await new Promise((r) => setTimeout(r, 200));
    const from = await leaderOf(nodes, 0);
    const steps: MoveStep[] = [];
    const outcome = await moveReplica(inProcess(nodes), { shard: 0, from, to: "n4", bootstrapVoters: ids }, { ...options, onStep: (s) => steps.push(s) });
    await new Promise((r) => setTimeout(r, 100));
    await load.stop();
    expect(outcome).toEqual({ moved: true });
    // The leadership moves off `from` first, unless an election took it away meanwhile.
    expect(steps.filter((step) => step !== "transfer-leader")).toEqual([
      "add-replica",
      "add-learner",
      "catch-up",
      "promote",
      "catch-up-voter",
      "remove-old",
      "drop-old",
    ]);
    expect(steps.indexOf("transfer-leader")).toBeLessThan(steps.indexOf("remove-old"));
    const voters = [...ids.filter((id) => id !== from), "n4"].sort();
    const leader = nodes.get(await leaderOf(nodes, 0))!;
    expect(leader.voters(0)).toEqual(voters);
    expect(nodes.get(from)!.hosts(0)).toBe(false);
    expect(load.acked.length).toBeGreaterThan(20);
    const n4 = nodes.get("n4")!;
    await n4.readBarrier(0);
    for (const key of load.acked) expect(read(n4, 0, key), key).toBe(key);
    // The untouched shard keeps its replicas, and n4 holds none of it.
    expect(nodes.get(await leaderOf(nodes, 1))!.voters(1)).toEqual(ids);
    expect(n4.hosts(1)).toBe(false);
    expect(fatal).toEqual([]);
  });

  it("rolls the learner back when it cannot catch up in time", async () => {
    const { nodes, isolate, fatal } = await openTestCluster({ ids, spares: ["n4"], sparesHost: "none", shards: 1 });
    for (let i = 0; i < 5; i++) await nodes.get(await leaderOf(nodes, 0))!.propose(0, setOp(`k${i}`, "v"));
    isolate("n4");
    const from = ids.find((id) => !nodes.get(id)!.ledShards().includes(0))!;
    const outcome = await moveReplica(inProcess(nodes), { shard: 0, from, to: "n4", bootstrapVoters: ids }, { ...options, catchUpTimeoutMs: 300 });
    expect(outcome).toMatchObject({ moved: false, rolledBack: true, reason: expect.stringContaining("n4 did not catch up") });
    const leader = nodes.get(await leaderOf(nodes, 0))!;
    expect(leader.voters(0)).toEqual(ids);
    expect(leader.learners(0)).toEqual([]);
    expect(nodes.get("n4")!.hosts(0)).toBe(false);
    expect(nodes.get(from)!.hosts(0)).toBe(true);
    expect(fatal).toEqual([]);
  });

  it("resumes a move interrupted after the promotion, and a finished move is a no-op", async () => {
    const { nodes, fatal } = await openTestCluster({ ids, spares: ["n4"], sparesHost: "none", shards: 1 });
    const cluster = inProcess(nodes);
    await leaderOf(nodes, 0);
    await nodes.get("n4")!.addGroup(0, ids);
    await retried(() => cluster.changeMembership(0, { kind: "addLearner", node: asNodeId("n4") }));
    await retried(() => cluster.changeMembership(0, { kind: "promoteLearner", node: asNodeId("n4") }));
    const from = ids.find((id) => !nodes.get(id)!.ledShards().includes(0))!;
    const steps: MoveStep[] = [];
    const move = { shard: 0, from, to: "n4", bootstrapVoters: ids };
    expect(await moveReplica(cluster, move, { ...options, onStep: (s) => steps.push(s) })).toEqual({ moved: true });
    expect(steps).toEqual(["catch-up-voter", "remove-old", "drop-old"]);
    expect(await moveReplica(cluster, move, options)).toEqual({ moved: true });
    expect(await moveReplica(cluster, { ...move, to: from }, options)).toMatchObject({ moved: false, reason: expect.stringContaining("to itself") });
    expect(nodes.get(await leaderOf(nodes, 0))!.voters(0)).toEqual([...ids.filter((id) => id !== from), "n4"].sort());
    expect(fatal).toEqual([]);
  });
});

describe("taking a replica out", () => {
  it("waits for a majority of the other voters to hold the commit index, and takes nothing out before", async () => {
    const { nodes, fatal } = await openTestCluster({ ids, shards: 1, readStampLagMsMax: 3_600_000 });
    for (let i = 0; i < 5; i++) await retried(async () => void (await nodes.get(await leaderOf(nodes, 0))!.propose(0, setOp(`k${i}`, "v"))));
    const leader = await leaderOf(nodes, 0);
    const [from, other] = ids.filter((id) => id !== leader) as [string, string];
    const base = inProcess(nodes);
    // The leader's view with `other` lagging: without `from`, only the leader would hold the commit index.
    const lagging: MoveCluster = {
      ...base,
      groupStatus: async (shard) => {
        const s = await base.groupStatus(shard);
        return s && { ...s, match: new Map([...s.match].map(([id, m]) => [id, id === other ? 0 : m])) };
      },
    };
    const stalled = await moveReplica(lagging, { shard: 0, from, to: undefined, bootstrapVoters: ids }, { ...options, stepTimeoutMs: 300 }).catch(
      (e: unknown) => e,
    );
    expect(stalled).toMatchObject({ name: "MoveStalledError", message: expect.stringContaining("not a majority") });
    expect(nodes.get(leader)!.voters(0)).toEqual(ids);
    // Caught up, it goes.
    expect(await moveReplica(base, { shard: 0, from, to: undefined, bootstrapVoters: ids }, options)).toEqual({ moved: true });
    expect(nodes.get(leader)!.voters(0)).toEqual(ids.filter((id) => id !== from));
    expect(fatal).toEqual([]);
  });
});
