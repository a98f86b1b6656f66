import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENTUAL, STRONG, TestCluster, keyForShard, sleep, text } from "./cluster-harness.js";

// Three keys per shard (LRU), so the fourth write to a shard evicts its least recently used key.
let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start(3, ["--entries-max", "36", "--eviction-policy", "lru"]);
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
});

describe("access hints", () => {
  it("reads served by a follower move recency on every replica, through the leader's log", async () => {
    const shard = 5;
    const leader = await cluster.leaderOf(shard);
    const follower = [...cluster.nodes.keys()].find((id) => id !== leader)!;
    const [a, b, c, d] = ["a", "b", "c", "d"].map((p) => keyForShard(shard, `hint-${p}-`)) as [string, string, string, string];
    for (const key of [a, b, c]) await cluster.client(leader).set({ key, payload: text(key) });
    // Wait until the follower's replica holds all three, then read `a` there only.
    for (;;) {
      const got = await cluster.client(follower).mGet({ keys: [a, b, c], consistency: EVENTUAL });
      if (got.results.every((r) => r.found)) break;
      await sleep(20);
    }
    for (let i = 0; i < 5; i++) await cluster.client(follower).get({ key: a, consistency: EVENTUAL });
    // The follower hands its samples to the leader, which proposes them as hints.
    const deadline = Date.now() + 5000;
    while ((await cluster.driverCounter(leader, "accessSamplesReceived")) === 0) {
      if (Date.now() > deadline) throw new Error("the leader received no access samples");
      await sleep(50);
    }
    await sleep(600); // the leader proposes hints every 200 ms
    // The fourth key evicts the least recently used: `b`, not `a`, which was read since.
    await cluster.client(leader).set({ key: d, payload: text(d) });
    const got = await cluster.client(leader).mGet({ keys: [a, b, c, d], consistency: STRONG });
    expect(got.results.map((r) => r.found)).toEqual([true, false, true, true]);
  });
});
