import { afterEach, describe, expect, it } from "vitest";
import { BOOTSTRAP_STORE_SETTINGS, type StoreSettings } from "../state-machine/store-settings.js";
import type { MultiRaft } from "./multi-raft.js";
import { closeTestClusters, leaderOf, openTestCluster, setOp, until } from "./testing/multi-raft-harness.js";

/*
 * Store settings are replicated (invariant 10 of docs/design.md): replicas start from the bootstrap
 * settings, a new group's first leader proposes its own seed as the group's first
 * command, and no later leader (a restarted node included) seeds again.
 */

const ids = ["n1", "n2", "n3"];
const SHARDS = 3;
afterEach(closeTestClusters);

const seeds: Record<string, StoreSettings> = {
  n1: { policy: "lfu", entriesMax: 11, bytesMax: 1_100_000 },
  n2: { policy: "fifo", entriesMax: 22, bytesMax: 2_200_000 },
  n3: { policy: "random", entriesMax: 33, bytesMax: 3_300_000 },
};

const cluster = () =>
  openTestCluster({
    ids,
    shards: SHARDS,
    preferredLeaders: Array.from({ length: SHARDS }, (_, shard) => ids[shard % ids.length]!),
    store: BOOTSTRAP_STORE_SETTINGS,
    seeds,
  });

const settingsOf = (node: MultiRaft, shard: number): StoreSettings => {
  const { policy, entriesMax, bytesMax } = node.replica(shard).store.options;
  return { policy, entriesMax, bytesMax };
};

describe("store settings seeded through the log", () => {
  it("gives every replica of a new group its first leader's seed, applied before any write that leader proposes", async () => {
    const { nodes } = await cluster();
    for (let shard = 0; shard < SHARDS; shard++) {
      const leader = await leaderOf(nodes, shard);
      // A write proposed at once after the election: the seed precedes it.
      await nodes.get(leader)!.propose(shard, setOp(`k${shard}`, new Uint8Array(10)));
      const seed = settingsOf(nodes.get(leader)!, shard);
      expect(Object.values(seeds)).toContainEqual(seed);
      await until(
        () => [...nodes.values()].every((n) => n.replica(shard).appliedIndex === nodes.get(leader)!.replica(shard).appliedIndex),
        "replicas to catch up",
      );
      const digests = new Set([...nodes.values()].map((n) => n.replica(shard).digest()));
      expect(digests.size).toBe(1);
      for (const node of nodes.values()) expect(settingsOf(node, shard)).toEqual(seed);
    }
  });

  it("does not seed again when a restarted node with other flags leads", async () => {
    const { nodes, restart } = await cluster();
    const leader = await leaderOf(nodes, 0);
    await nodes.get(leader)!.propose(0, setOp("k", new Uint8Array(10)));
    const before = settingsOf(nodes.get(leader)!, 0);
    const other = ids.find((id) => id !== leader)!;
    await until(() => nodes.get(other)!.replica(0).lastStampMs > 0, "the follower to apply the seed");
    const restarted = await restart(other, { seed: { policy: "lru", entriesMax: 99, bytesMax: 9_900_000 } });
    await restarted.recovered();
    expect(settingsOf(restarted, 0)).toEqual(before);
    await until(() => restarted.status(0).leaderId !== "", "the restarted node to know a leader");
    await nodes.get(leader)!.transferLeadership(0, other, 4000);
    await restarted.propose(0, setOp("k2", new Uint8Array(10)));
    for (const node of nodes.values()) await until(() => node.replica(0).appliedIndex === restarted.replica(0).appliedIndex, "replicas to catch up");
    for (const node of nodes.values()) expect(settingsOf(node, 0)).toEqual(before);
  });
});
