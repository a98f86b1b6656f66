import { Code, ConnectError } from "@connectrpc/connect";
import { NotLeaderSchema } from "@distcache/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENTUAL, STRONG, TestCluster, keyForShard, retryable, retrying, sleep, text } from "./cluster-harness.js";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start(3);
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
});

const others = (id: string) => [...cluster.nodes.keys()].filter((n) => n !== id);

describe("routing", () => {
  it("curl against a follower sets and gets (the follower forwards)", async () => {
    const key = keyForShard(0, "curl");
    const leader = await cluster.leaderOf(0);
    const [a, b] = others(leader).map((id) => cluster.nodes.get(id)!.url);
    const post = (url: string, method: string, body: object, headers: Record<string, string> = {}) =>
      fetch(`${url}/distcache.v1.CacheService/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    // With a deadline, which the follower passes on to the leader.
    const set = await post(a!, "Set", { key, text: "via follower" }, { "connect-timeout-ms": "3000" });
    expect(set.status).toBe(200);
    const got = await (await post(b!, "Get", { key })).json();
    expect(got).toMatchObject({ found: true, text: "via follower" });
    const metrics = await (await fetch(`${a}/metrics`)).text();
    expect(metrics).toMatch(/distcache_forwarded_requests_total\{method="Set"\} [1-9]/);
    // The write went on the peer link to the leader, which ran it.
    expect(metrics).toMatch(/distcache_raft_driver\{counter="forwardedSent"\} [1-9]/);
    const leaderMetrics = await (await fetch(`${cluster.nodes.get(leader)!.url}/metrics`)).text();
    expect(leaderMetrics).toMatch(/distcache_raft_driver\{counter="forwardedServed"\} [1-9]/);
  });

  it("a client that asks not to be forwarded gets the NotLeader detail", async () => {
    const leader = await cluster.leaderOf(1);
    const follower = others(leader)[0]!;
    try {
      await cluster.client(follower).set({ key: keyForShard(1), payload: text("x"), header: { noForward: true } });
      expect.unreachable();
    } catch (err) {
      const e = ConnectError.from(err);
      expect(e.code).toBe(Code.FailedPrecondition);
      const [detail] = e.findDetails(NotLeaderSchema);
      expect(detail).toMatchObject({ shard: 1, leaderId: leader, leaderAddress: cluster.nodes.get(leader)!.url.replace("http://", "") });
    }
  });

  it("a batch write with no_forward applies nothing unless this node leads every shard in it", async () => {
    const leader = await cluster.leaderOf(4);
    const keys = [keyForShard(4, "own"), keyForShard(5, "other"), keyForShard(6, "third")];
    const leaders = await Promise.all([4, 5, 6].map((s) => cluster.leaderOf(s)));
    expect(new Set(leaders).size).toBeGreaterThan(1);
    await expect(
      cluster.client(leader).mSet({ items: keys.map((key) => ({ key, payload: text("batch") })), header: { noForward: true } }),
    ).rejects.toMatchObject({ code: Code.FailedPrecondition });
    const got = await cluster.client(leader).mGet({ keys });
    expect(got.results.map((r) => r.found)).toEqual([false, false, false]);
  });

  it("TransferLeader moves a shard's leadership, sent to any node, and refuses bad requests", async () => {
    const shard = 9;
    const leader = await cluster.leaderOf(shard);
    const [via, target] = others(leader) as [string, string];
    const call = (node: string, body: object) =>
      fetch(`${cluster.nodes.get(node)!.url}/distcache.v1.ClusterService/TransferLeader`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    // Sent to a follower, which forwards it to the leader.
    const moved = await call(via, { shard, toNodeId: target });
    expect(moved.status).toBe(200);
    expect(await moved.json()).toEqual({ leaderId: target });
    expect(await cluster.leaderOf(shard)).toBe(target);
    // Without a target the leader picks the most caught-up follower.
    const picked = (await (await call(target, { shard })).json()) as { leaderId: string };
    expect(picked.leaderId).not.toBe(target);
    expect(await cluster.leaderOf(shard)).toBe(picked.leaderId);

    const bad = async (body: object) => (await (await call(via, body)).json()) as { code: string; message: string };
    expect(await bad({ shard: 99 })).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/unknown shard 99/) });
    expect(await bad({ shard, toNodeId: "n9" })).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/unknown node "n9"/) });
    // Leave the leaders where the other tests expect them.
    expect((await call(via, { shard, toNodeId: leader })).status).toBe(200);
    expect(await cluster.leaderOf(shard)).toBe(leader);
  });
});

describe("failures", () => {
  it("survives kill -9 of a shard leader without losing acknowledged writes", async () => {
    const shard = 2;
    const victim = await cluster.leaderOf(shard);
    const survivors = others(victim);
    const acked = new Map<string, string>();
    let stop = false;
    let killedAt = 0;
    let firstWriteAfterKill = 0;
    const writer = async (nodeId: string, w: number) => {
      const client = cluster.client(nodeId);
      for (let i = 0; !stop; i++) {
        const key = keyForShard(shard, `w${w}-${i}-`);
        try {
          await client.set({ key, payload: text(`v${i}`) }, { timeoutMs: 2000 });
          acked.set(key, `v${i}`);
          if (killedAt && !firstWriteAfterKill) firstWriteAfterKill = Date.now();
        } catch (err) {
          if (!retryable(err)) throw err;
          await sleep(20);
        }
      }
    };
    const writers = survivors.flatMap((id, n) => [writer(id, n * 2), writer(id, n * 2 + 1)]);
    await sleep(500);
    await cluster.kill(victim, "SIGKILL");
    killedAt = Date.now();
    while (!firstWriteAfterKill && Date.now() - killedAt < 10_000) await sleep(20);
    await sleep(300);
    stop = true;
    await Promise.all(writers);
    expect(firstWriteAfterKill, "no write succeeded after the kill").toBeGreaterThan(0);
    expect(firstWriteAfterKill - killedAt).toBeLessThanOrEqual(5000);
    const reader = cluster.client(survivors[0]!);
    const keys = [...acked.keys()];
    for (let i = 0; i < keys.length; i += 200) {
      const chunk = keys.slice(i, i + 200);
      const got = await reader.mGet({ keys: chunk, consistency: STRONG });
      got.results.forEach((r, j) => expect(r.payload, chunk[j]).toEqual(text(acked.get(chunk[j]!)!)));
    }
    expect(acked.size).toBeGreaterThan(10);
  });

  it("a restarted node catches up and its replicas match", async () => {
    const dead = [...cluster.nodes.values()].find((n) => n.child.exitCode !== null || n.child.signalCode !== null)!;
    const live = others(dead.nodeId);
    const client = cluster.client(live[0]!);
    const missed = Array.from({ length: 60 }, (_, i) => `missed-${i}`);
    // Shards the dead node led may still be electing: retry (the same values) while unavailable.
    await retrying(() => client.mSet({ items: missed.map((key) => ({ key, payload: text(key) })) }));
    await cluster.restart(dead.nodeId);
    const restarted = cluster.client(dead.nodeId);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const got = await restarted.mGet({ keys: missed, consistency: EVENTUAL }).catch(() => undefined);
      if (got?.results.every((r, i) => r.payload.case === "text" && r.payload.value === missed[i])) break;
      if (Date.now() > deadline) throw new Error("restarted node did not catch up");
      await sleep(100);
    }
    // Quiesce, then every shard's replicas must have identical state.
    for (;;) {
      const stats = await Promise.all([...cluster.nodes.keys()].map((id) => cluster.client(id).stats({ includeDigests: true })));
      const mismatched = stats[0]!.shards.filter((s) => stats.some((o) => o.shards.find((x) => x.shard === s.shard)?.digest !== s.digest));
      if (mismatched.length === 0) break;
      if (Date.now() > deadline) throw new Error(`replica digests differ on shards ${mismatched.map((s) => s.shard).join(", ")}`);
      await sleep(200);
    }
  });

  it("a paused old leader never serves a stale strong read", async () => {
    const shard = 3;
    const key = keyForShard(shard, "stale");
    const old = await cluster.leaderOf(shard);
    await cluster.client(old).set({ key, payload: text("old") });
    cluster.pause(old);
    const next = await cluster.leaderOf(shard, 10_000, old);
    for (;;) {
      try {
        await cluster.client(next).set({ key, payload: text("new") }, { timeoutMs: 2000 });
        break;
      } catch (err) {
        if (!retryable(err)) throw err;
        await sleep(50);
      }
    }
    cluster.resume(old);
    const until = Date.now() + 1500;
    let answered = 0;
    while (Date.now() < until) {
      try {
        const got = await cluster.client(old).get({ key, consistency: STRONG, header: { noForward: true } }, { timeoutMs: 1000 });
        expect(got.payload).toEqual(text("new"));
        answered++;
      } catch (err) {
        expect(retryable(err), String(err)).toBe(true);
      }
    }
    expect(answered).toBeGreaterThan(0);
  });

  it("SIGTERM hands a node's leaderships to other replicas before it exits", async () => {
    const live = [...cluster.nodes.values()].filter((n) => n.child.exitCode === null && n.child.signalCode === null);
    const stats = await cluster.client(live[0]!.nodeId).stats({});
    // The live node that leads the most shards.
    const count = (id: string) => stats.shards.filter((s) => s.leaderId === id).length;
    const victim = live.map((n) => n.nodeId).sort((a, b) => count(b) - count(a))[0]!;
    const led = stats.shards.filter((s) => s.leaderId === victim).map((s) => s.shard);
    expect(led.length).toBeGreaterThan(0);
    const node = cluster.nodes.get(victim)!;
    const exited = new Promise<number | null>((resolve) => node.child.once("exit", (code) => resolve(code)));
    process.kill(node.pid, "SIGTERM");
    expect(await exited).toBe(0);
    // Right after the exit each of its shards already has a leader elsewhere: faster than an
    // election could produce one (elections need at least 10 ticks of 50 ms, plus PreVote).
    const exitedAt = Date.now();
    const leaders = await Promise.all(led.map((shard) => cluster.leaderOf(shard, 400, victim)));
    expect(Date.now() - exitedAt).toBeLessThan(500);
    for (const [i, shard] of led.entries()) {
      const leader = leaders[i]!;
      await cluster.client(leader).set({ key: keyForShard(shard, "after-term"), payload: text("ok") }, { timeoutMs: 2000 });
    }
  });
});
