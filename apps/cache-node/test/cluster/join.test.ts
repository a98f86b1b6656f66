import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SHARDS, STRONG, TestCluster, keyForShard, sleep, text } from "./cluster-harness.js";
import { clusterClient, everyGroupOn, groupsBecome, groupsNow, joinSettled, readsBack, shardsVotedBy, writer } from "./placement-checks.js";

// A node started with --join on real processes: it asks the cluster to add it, serves
// once a member, and the placement driver gives it its share of replicas through each
// group's own membership changes, checked against every group's Raft configuration.
let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start(3);
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
});

const ALL = ["n1", "n2", "n3", "n4"];

// A replica leaves its old node once its group committed the change: wait for that too.
const settled = joinSettled("n4");
const balanced = (g: Parameters<typeof settled>[0]) => settled(g) && ALL.every((id) => (g.hosted.get(id) ?? []).filter((s) => s < SHARDS).length === 9);

describe("--join", () => {
  it("adds a 4th node under writes: it becomes a member, gets 9 of the 36 replicas, and every acknowledged write reads back STRONG through it", async () => {
    const writes = writer(cluster, () => "n1");
    await sleep(300);
    await cluster.join("n4", "n2");
    const nodes = (await clusterClient(cluster, "n4").getTopology({}, { timeoutMs: 5000 })).topology!.nodes.map((n) => n.id);
    expect(nodes).toEqual(ALL);
    const after = await groupsBecome(cluster, ALL, balanced, 90_000);
    await writes.stop();
    expect(shardsVotedBy(after!, "n4")).toHaveLength(9);
    for (const id of ALL) expect(after!.hosted.get(id)!.filter((g) => g < SHARDS).length, id).toBe(9);
    expect(writes.acked.size).toBeGreaterThan(0);
    await readsBack(cluster, writes.acked, "n4");
  }, 150_000);

  it("streams a leader change of a shard the node holds no replica of (WatchTopology), and forwards to the new leader", async () => {
    const view = await groupsNow(cluster, ALL);
    const shard = [...Array(SHARDS).keys()].find((s) => !view.leaders.get(s)!.voters.includes("n4"))!;
    const { leader, voters } = view.leaders.get(shard)!;
    const to = voters.find((v) => v !== leader)!;
    const stop = new AbortController();
    const stream = clusterClient(cluster, "n4").watchTopology({}, { signal: stop.signal })[Symbol.asyncIterator]();
    try {
      expect((await stream.next()).value?.topology?.shards[shard]?.leaderId).toBe(leader);
      await clusterClient(cluster, leader).transferLeader({ shard, toNodeId: to }, { timeoutMs: 10_000 });
      const started = Date.now();
      for (;;) {
        const message = (await stream.next()).value;
        if (message?.topology?.shards[shard]?.leaderId === to) break;
      }
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      stop.abort();
    }
    const key = keyForShard(shard, "watched");
    await cluster.client("n4").set({ key, payload: text("v") }, { timeoutMs: 5000 });
    const got = await cluster.client(to).get({ key, consistency: STRONG }, { timeoutMs: 5000 });
    expect(got.found).toBe(true);
  }, 60_000);

  it("restarts as itself from its data dir, without asking the cluster", async () => {
    const writes = writer(cluster, () => "n4");
    await sleep(500);
    await cluster.kill("n4");
    await cluster.restart("n4");
    await sleep(500);
    await writes.stop();
    const g = await groupsBecome(cluster, ALL, balanced, 30_000);
    expect(shardsVotedBy(g!, "n4")).toHaveLength(9);
    await readsBack(cluster, writes.acked, "n4");
  }, 90_000);

  it("refuses a wiped node under its old id, and tells it to take a new one", async () => {
    await cluster.kill("n4");
    rmSync(cluster.dataDir("n4"), { recursive: true, force: true });
    const outcome = await cluster.restart("n4").then(
      () => "started",
      (err: unknown) => String(err),
    );
    expect(outcome).toMatch(/n4 is a member of the cluster already, and its data dir is empty.*new --node-id/);
  }, 60_000);

  it("re-creates a dead joined node's replicas, once it is removed, on the nodes they had left", async () => {
    const writes = writer(cluster, () => "n1");
    await sleep(300);
    await clusterClient(cluster, "n2").removeNode({ nodeId: "n4" }, { timeoutMs: 10_000 });
    const back = await groupsBecome(cluster, ["n1", "n2", "n3"], everyGroupOn(["n1", "n2", "n3"]), 60_000);
    await writes.stop();
    expect(everyGroupOn(["n1", "n2", "n3"])(back!)).toBe(true);
    await readsBack(cluster, writes.acked, "n3");
  }, 90_000);

  it("moves a live joined node's replicas back before it leaves; it then stops, and is refused when it returns", async () => {
    await cluster.join("n5", "n3");
    const five = ["n1", "n2", "n3", "n5"];
    const joined = await groupsBecome(cluster, five, (g) => shardsVotedBy(g, "n5").length === 9, 90_000);
    expect(shardsVotedBy(joined!, "n5")).toHaveLength(9);
    const writes = writer(cluster, () => "n5");
    await sleep(300);
    const n5 = cluster.nodes.get("n5")!;
    const exited = new Promise<number | null>((resolve) => n5.child.once("exit", (code) => resolve(code)));
    await clusterClient(cluster, "n1").removeNode({ nodeId: "n5" }, { timeoutMs: 10_000 });
    const back = await groupsBecome(cluster, ["n1", "n2", "n3"], everyGroupOn(["n1", "n2", "n3"]), 60_000);
    expect(everyGroupOn(["n1", "n2", "n3"])(back!)).toBe(true);
    expect(await Promise.race([exited, sleep(30_000).then(() => "still running")])).toBe(0);
    await writes.stop();
    await readsBack(cluster, writes.acked, "n1");
    const again = await cluster.restart("n5").then(
      () => "started",
      (err: unknown) => String(err),
    );
    expect(again).toMatch(/node n5 was removed from the cluster/);
  }, 150_000);
});
