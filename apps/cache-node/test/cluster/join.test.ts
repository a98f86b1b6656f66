import { Code, ConnectError } from "@connectrpc/connect";
import type { WatchResponse } from "@distcache/proto";
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

  it("streams a prefix watch on n4 over every shard, relaying those it holds no replica of, and resumes exactly after its relay's node is killed", async () => {
    const view = await groupsNow(cluster, ALL);
    const remote = [...Array(SHARDS).keys()].filter((s) => !view.leaders.get(s)!.voters.includes("n4"));
    expect(remote).toHaveLength(3);
    const seen: string[] = [];
    let token: WatchResponse["resume"] = [];
    const watch = async (stop: AbortSignal, start: WatchResponse["resume"]) => {
      try {
        for await (const m of cluster.client("n4").watch({ key: "rw/", prefix: true, withValues: true, start }, { signal: stop })) {
          seen.push(...m.events.map((e) => `${e.shard}:${e.key}=${e.payload.case === "text" ? e.payload.value : ""}`));
          token = m.resume;
        }
      } catch {
        // the relay's node went away, or the test stopped the watch
      }
    };
    const expected: string[] = [];
    let via = "n1";
    const writeRound = async (round: number) => {
      for (let shard = 0; shard < SHARDS; shard++) {
        const key = keyForShard(shard, `rw/${round}-`);
        // Unavailable means nothing was proposed (the leader was down, or not yet elected): send again.
        for (let attempt = 0; ; attempt++) {
          const sent = await cluster
            .client(via)
            .set({ key, payload: text(`r${round}`) }, { timeoutMs: 10_000 })
            .then(
              () => true,
              (err: unknown) => {
                if (ConnectError.from(err).code !== Code.Unavailable || attempt > 100) throw err;
                return false;
              },
            );
          if (sent) break;
          await sleep(100);
        }
        expected.push(`${shard}:${key}=r${round}`);
      }
    };
    const first = new AbortController();
    const running = watch(first.signal, []);
    await sleep(500);
    const gauge = async (id: string, name: string) =>
      Number(new RegExp(`^${name} (\\d+)`, "m").exec(await (await fetch(`${cluster.nodes.get(id)!.url}/metrics`)).text())?.[1]);
    expect(await gauge("n4", "distcache_watch_relays_open")).toBe(1);
    await writeRound(1);
    for (let waited = 0; seen.length < expected.length && waited < 10_000; waited += 50) await sleep(50);
    expect([...seen].sort()).toEqual([...expected].sort());
    // Kill -9 the node the relay streams from: the watch ends, and resumes from its token.
    const holders: string[] = [];
    for (const id of ["n1", "n2", "n3"]) if ((await gauge(id, "distcache_watchers_open")) > 0) holders.push(id);
    expect(holders).toHaveLength(1);
    const holder = holders[0]!;
    via = holder === "n1" ? "n2" : "n1";
    await cluster.kill(holder);
    await writeRound(2);
    await running;
    first.abort();
    const second = new AbortController();
    const resumed = watch(second.signal, token);
    await cluster.restart(holder);
    await writeRound(3);
    for (let waited = 0; seen.length < expected.length && waited < 20_000; waited += 50) await sleep(50);
    second.abort();
    await resumed;
    expect([...seen].sort()).toEqual([...expected].sort());
  }, 90_000);

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
