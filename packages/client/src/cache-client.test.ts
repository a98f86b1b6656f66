import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ClientClosedError, IndeterminateWriteError, TimeoutError, UnavailableError } from "./errors.js";
import { FakeCluster, fakeTime } from "./testing/fake-cluster.js";
import { setupClient, warm } from "./testing/setup-client.js";

/*
 * The SDK against a fake three-node cluster spoken to through in-memory Connect
 * transports: real requests, real error details, leadership that the test moves.
 */

/** A leader other than the shard's current one. */
function otherNode(cluster: FakeCluster, shard: number): string {
  return cluster.nodeIds.find((id) => id !== cluster.leaderOf(shard))!;
}

describe("routing", () => {
  it("sends each key to its shard's leader, asking nodes not to forward", async () => {
    const { cluster, client } = setupClient();
    for (let shard = 0; shard < cluster.shardCount; shard++) {
      const key = cluster.keyForShard(shard);
      await client.set(key, `v${shard}`);
      expect(await client.getText(key)).toBe(`v${shard}`);
    }
    for (const call of cluster.calls) {
      expect(call.nodeId).toBe(cluster.leaderOf(cluster.ring.shardFor(call.keys[0]!)));
      expect(call.header?.noForward).toBe(true);
    }
  });

  it("numbers writes in one session and leaves reads out of it", async () => {
    const { cluster, client } = setupClient();
    await client.set("a", "1");
    await client.incr("b", 2);
    await client.get("a");
    const [set, incr] = [cluster.callsTo("set")[0]!, cluster.callsTo("incr")[0]!];
    expect([set.header?.sessionId, set.header?.sequence, set.header?.ackedSequence]).toEqual(["s-test", 1n, 0n]);
    expect([incr.header?.sequence, incr.header?.ackedSequence]).toEqual([2n, 1n]);
    expect(cluster.callsTo("get")[0]!.header?.sessionId).toBe("");
  });

  it("a write stuck on one shard does not hold back what the client acknowledges to the others", async () => {
    const { cluster, client } = setupClient();
    await warm(client);
    const [stuckKey, key] = [cluster.keyForShard(1), cluster.keyForShard(0)];
    const release = cluster.holdNext(cluster.leaderOf(1)!, "set");
    const stuck = client.set(stuckKey, "slow");
    for (let i = 0; i < 3; i++) await client.set(key, `v${i}`);
    const sent = cluster.callsTo("set").filter((c) => c.keys[0] === key);
    // Sequence 1 is in flight on shard 1; shard 0 is told every write of its own finished.
    expect(sent.map((c) => [c.header?.sequence, c.header?.ackedSequence])).toEqual([
      [2n, 1n],
      [3n, 2n],
      [4n, 3n],
    ]);
    release();
    await stuck;
    await client.set(stuckKey, "next");
    expect(cluster.callsTo("set").at(-1)!.header?.ackedSequence).toBe(4n);
  });

  it("follows a NotLeader redirect at once and remembers the new leader", async () => {
    const { cluster, client, events, time } = setupClient();
    await warm(client);
    const key = cluster.keyForShard(1);
    const newLeader = otherNode(cluster, 1);
    cluster.setLeader(1, newLeader);
    expect(await client.set(key, "x")).toBe(1n);
    expect(cluster.callsTo("set").map((c) => c.nodeId)).toEqual([cluster.nodeIds[1], newLeader]);
    expect(events).toContainEqual({ type: "leaderChanged", shard: 1, leaderId: newLeader });
    expect(events).toContainEqual({ type: "retry", shard: 1, attempt: 2, reason: "notLeader", delayMs: 0 });
    expect(time.sleeps).toEqual([]);
    await client.get(key);
    expect(cluster.callsTo("get").map((c) => c.nodeId)).toEqual([newLeader]);
  });

  it("waits out an election (no leader known) with backoff, then writes once", async () => {
    const cluster = new FakeCluster();
    const key = cluster.keyForShard(2);
    const base = fakeTime();
    let sleeps = 0;
    const { client, events } = setupClient(
      {
        sleep: async (ms) => {
          await base.sleep(ms);
          if (++sleeps === 3) cluster.setLeader(2, "n1");
        },
        clock: base.clock,
      },
      cluster,
    );
    await warm(client);
    cluster.setLeader(2, undefined);
    expect(await client.set(key, "after election")).toBe(1n);
    expect(cluster.peek(key)?.text).toBe("after election");
    expect(events.filter((e) => e.type === "retry").map((e) => (e.type === "retry" ? e.reason : ""))).toEqual(["noLeader", "noLeader", "noLeader"]);
    // Backoff doubles from backoffMsMin (25); random 0.5 puts each wait at 3/4 of its step.
    expect(base.sleeps).toEqual([19, 38, 75]);
  });

  it("refreshes the topology when the leader refuses connections", async () => {
    const { cluster, client, events } = setupClient();
    await warm(client);
    const key = cluster.keyForShard(0);
    const dead = cluster.leaderOf(0)!;
    cluster.down.add(dead);
    cluster.setLeader(0, "n2");
    expect(await client.set(key, "v")).toBe(1n);
    expect(await client.getText(key)).toBe("v");
    expect(events.filter((e) => e.type === "topologyRefreshed").length).toBeGreaterThanOrEqual(2);
    expect(events).toContainEqual({ type: "leaderChanged", shard: 0, leaderId: "n2" });
    expect(events).toContainEqual(expect.objectContaining({ type: "retry", shard: 0, reason: "unreachable" }));
    expect(cluster.callsTo("set").map((c) => c.nodeId)).toEqual(["n2"]);
  });

  it("reports what the nodes answered when its time runs out between topology passes", async () => {
    const cluster = new FakeCluster();
    for (const id of ["n1", "n2", "n3"]) cluster.down.add(id);
    // Each wait overshoots the deadline: the next pass has no time left to ask any node.
    let nowMs = 0;
    const { client } = setupClient({ clock: { nowMs: () => nowMs }, sleep: async (ms) => void (nowMs += ms + 10_000), timeoutMs: 5000 }, cluster);
    const err = await client.get("k").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(/no node answered GetTopology \(tried .*\): connect ECONNREFUSED/);
  });

  it("learns the topology from a later seed when the first is down", async () => {
    const cluster = new FakeCluster();
    cluster.down.add("n1");
    cluster.setLeader(0, "n3");
    const { client } = setupClient({ seeds: [cluster.urlOf("n1"), cluster.urlOf("n3")] }, cluster);
    await client.set(cluster.keyForShard(0), "v");
    expect(cluster.callsTo("set").map((c) => c.nodeId)).toEqual(["n3"]);
  });
});

describe("write retry rules (invariant 4 of docs/design.md)", () => {
  const indeterminate: [string, ConnectError][] = [
    ["deadline_exceeded from the node", new ConnectError("write at index 9 not applied within 5000 ms; it may or may not take effect", Code.DeadlineExceeded)],
    ["unavailable without proof", new ConnectError("forwarding to leader n2 failed (reset); a write may or may not have taken effect", Code.Unavailable)],
  ];

  it.each(indeterminate)("resends a write after %s with the same sequence, which applies once, applied or not", async (_, error) => {
    for (const afterApply of [true, false]) {
      const { cluster, client } = setupClient();
      const key = cluster.keyForShard(0);
      cluster.failNext(cluster.leaderOf(0)!, "set", error, afterApply);
      expect(await client.set(key, "v")).toBe(1n);
      expect(cluster.callsTo("set").map((c) => c.header?.sequence)).toEqual([1n, 1n]);
      expect(cluster.peek(key)).toMatchObject({ text: "v", version: 1n });
    }
  });

  it("resends a write whose connection broke; an increment that had applied is not applied twice", async () => {
    for (const afterApply of [true, false]) {
      const { cluster, client } = setupClient();
      const key = cluster.keyForShard(0);
      cluster.breakNext(cluster.leaderOf(0)!, "incr", afterApply);
      expect(await client.incr(key, 5)).toBe(5n);
      expect(cluster.peek(key)?.text).toBe("5");
      // The leader that broke the connection is forgotten: another node names it again.
      const sent = cluster.callsTo("incr");
      expect(new Set(sent.map((c) => c.header?.sequence))).toEqual(new Set([1n]));
      expect(sent.at(-1)!.nodeId).toBe(cluster.leaderOf(0));
    }
  });

  it("resends only the batch part whose outcome is unknown", async () => {
    const { cluster, client } = setupClient();
    const keys = [cluster.keyForShard(0), cluster.keyForShard(1)];
    cluster.failNext(cluster.leaderOf(1)!, "mSet", new ConnectError("timed out", Code.DeadlineExceeded), true);
    await client.mset(keys.map((key) => ({ key, value: "v" })));
    expect(cluster.callsTo("mSet").filter((c) => c.keys.includes(keys[1]!))).toHaveLength(2);
    for (const key of keys) expect(cluster.peek(key)).toMatchObject({ text: "v", version: 1n });
  });

  it("stays indeterminate only when the deadline passes before any answer", async () => {
    const { cluster, client, time } = setupClient({ timeoutMs: 2000 });
    await warm(client);
    const key = cluster.keyForShard(0);
    for (let i = 0; i < 50; i++) cluster.failNext(cluster.leaderOf(0)!, "set", indeterminate[1]![1], i === 0);
    const err = await client.set(key, "v").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IndeterminateWriteError);
    expect(time.clock.nowMs()).toBeGreaterThanOrEqual(1000);
    // Every send carried the one sequence; the write applied once, by the first.
    expect(new Set(cluster.callsTo("set").map((c) => c.header?.sequence))).toEqual(new Set([1n]));
    expect(cluster.callsTo("set").length).toBeGreaterThan(2);
    expect(cluster.peek(key)).toMatchObject({ text: "v", version: 1n });
  });

  it("a write canceled after a send that may have applied is indeterminate, not canceled", async () => {
    const abort = new AbortController();
    const { cluster, client } = setupClient({ onEvent: (e) => e.type === "retry" && e.reason === "indeterminate" && abort.abort() });
    const key = cluster.keyForShard(0);
    cluster.breakNext(cluster.leaderOf(0)!, "incr", true);
    const err = await client.incr(key, 5, { signal: abort.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IndeterminateWriteError);
    expect(cluster.peek(key)?.text).toBe("5");
  });

  it("a resend refused by a busy leader is retried after backoff, and an unexplained refusal of it is indeterminate", async () => {
    const busy = new ConnectError("shard 0: too many writes are waiting to commit; retry later", Code.ResourceExhausted, {
      "content-type": "application/json",
    });
    {
      const { cluster, client, events } = setupClient();
      const key = cluster.keyForShard(0);
      // Applied, then timed out; the resend finds the leader busy; the next one is answered.
      cluster.failNext(cluster.leaderOf(0)!, "incr", new ConnectError("timed out", Code.DeadlineExceeded), true);
      cluster.failNext(cluster.leaderOf(0)!, "incr", busy);
      expect(await client.incr(key, 5)).toBe(5n);
      expect(cluster.peek(key)?.text).toBe("5");
      expect(events).toContainEqual(expect.objectContaining({ type: "retry", reason: "overloaded" }));
    }
    {
      const { cluster, client } = setupClient();
      const key = cluster.keyForShard(0);
      cluster.failNext(cluster.leaderOf(0)!, "incr", new ConnectError("timed out", Code.DeadlineExceeded), true);
      cluster.failNext(cluster.leaderOf(0)!, "incr", new ConnectError("internal error: boom", Code.Internal, { "content-type": "application/json" }));
      await expect(client.incr(key, 5)).rejects.toBeInstanceOf(IndeterminateWriteError);
      expect(cluster.peek(key)?.text).toBe("5");
    }
  });

  it("retries a write the node says did not take effect, with the same sequence", async () => {
    const { cluster, client } = setupClient();
    const key = cluster.keyForShard(0);
    cluster.failNext(
      cluster.leaderOf(0)!,
      "set",
      new ConnectError("shard 0: the write was superseded by a new leader and did not take effect; retry", Code.Unavailable),
    );
    expect(await client.set(key, "v")).toBe(1n);
    const sequences = cluster.callsTo("set").map((c) => c.header?.sequence);
    expect(sequences).toEqual([1n, 1n]);
  });

  it("always retries reads, even after deadline_exceeded or a reset", async () => {
    const { cluster, client } = setupClient();
    const key = cluster.keyForShard(0);
    await client.set(key, "v");
    cluster.failNext(cluster.leaderOf(0)!, "get", new ConnectError("timed out", Code.DeadlineExceeded));
    expect(await client.getText(key)).toBe("v");
    cluster.breakNext(cluster.leaderOf(0)!, "get", true);
    expect(await client.getText(key)).toBe("v");
    expect(cluster.callsTo("get")).toHaveLength(4);
  });

  it("gives up at the deadline with TimeoutError when no leader appears; nothing was applied", async () => {
    const { cluster, client, time } = setupClient({ timeoutMs: 1000, attemptsMax: 100 });
    await warm(client);
    cluster.setLeader(3, undefined);
    const err = await client.set(cluster.keyForShard(3), "v").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(time.sleeps.reduce((a, b) => a + b, 0)).toBeLessThan(1000);
    await expect(client.get(cluster.keyForShard(3))).rejects.toBeInstanceOf(TimeoutError);
  });

  it("gives up after attemptsMax attempts with UnavailableError", async () => {
    const { cluster, client } = setupClient({ attemptsMax: 3, timeoutMs: 60_000 });
    await warm(client);
    cluster.setLeader(3, undefined);
    const before = cluster.calls.length;
    await expect(client.delete(cluster.keyForShard(3))).rejects.toBeInstanceOf(UnavailableError);
    expect(cluster.callsTo("delete")).toHaveLength(3);
    expect(cluster.calls.length - before).toBe(3);
  });
});

describe("batches", () => {
  const keysAcrossShards = (cluster: FakeCluster) => Array.from({ length: 12 }, (_, i) => cluster.keyForShard(i % cluster.shardCount, `b${i}-`));

  it("mget sends one request per leader and answers in request order", async () => {
    const { cluster, client } = setupClient();
    const keys = keysAcrossShards(cluster);
    await client.mset(keys.filter((_, i) => i % 3 !== 0).map((key) => ({ key, value: `=${key}` })));
    await warm(client);
    const results = await client.mget(keys);
    expect(results.map((r) => (r ? r.text : null))).toEqual(keys.map((k, i) => (i % 3 === 0 ? null : `=${k}`)));
    const mgets = cluster.callsTo("mGet");
    expect(mgets.map((c) => c.nodeId).sort()).toEqual(["n1", "n2", "n3"]);
    for (const call of mgets) for (const key of call.keys) expect(cluster.leaderOf(cluster.ring.shardFor(key))).toBe(call.nodeId);
  });

  it("mset writes one request per shard and returns versions in request order", async () => {
    const { cluster, client } = setupClient();
    const keys = keysAcrossShards(cluster);
    const versions = await client.mset(keys.map((key) => ({ key, value: key })));
    expect(versions).toEqual(keys.map((k) => cluster.peek(k)!.version));
    const msets = cluster.callsTo("mSet");
    expect(msets).toHaveLength(cluster.shardCount);
    for (const call of msets) expect(new Set(call.keys.map((k) => cluster.ring.shardFor(k))).size).toBe(1);
  });

  it("retries only the part whose leader moved, each key written once", async () => {
    const { cluster, client } = setupClient();
    const keys = keysAcrossShards(cluster);
    await warm(client);
    cluster.setLeader(4, otherNode(cluster, 4));
    await client.mset(keys.map((key) => ({ key, value: "v" })));
    for (let shard = 0; shard < cluster.shardCount; shard++) {
      const inShard = keys.filter((k) => cluster.ring.shardFor(k) === shard).length;
      expect(cluster.revisionOf(shard)).toBe(BigInt(inShard));
    }
    const shard4 = cluster.callsTo("mSet").filter((c) => cluster.ring.shardFor(c.keys[0]!) === 4);
    expect(shard4.map((c) => c.nodeId)).toEqual([cluster.nodeIds[1], cluster.leaderOf(4)]);
    const results = await client.mget(keys);
    expect(results.every((r) => r?.text === "v")).toBe(true);
  });

  it("mget falls back to per-shard requests when a leader moved", async () => {
    const { cluster, client } = setupClient();
    const keys = keysAcrossShards(cluster);
    await client.mset(keys.map((key) => ({ key, value: key })));
    cluster.setLeader(0, "n2");
    const results = await client.mget(keys);
    expect(results.map((r) => r?.text)).toEqual(keys);
  });

  it("mdelete sums the deletions of every shard", async () => {
    const { cluster, client } = setupClient();
    const keys = keysAcrossShards(cluster);
    await client.mset(keys.slice(0, 7).map((key) => ({ key, value: "v" })));
    expect(await client.mdelete(keys)).toBe(7);
  });
});

describe("client lifecycle", () => {
  it("close releases once and later calls fail with ClientClosedError", async () => {
    let closes = 0;
    const { client } = setupClient({ onClose: () => void closes++ });
    await client.close();
    await client.close();
    expect(closes).toBe(1);
    await expect(client.get("a")).rejects.toBeInstanceOf(ClientClosedError);
  });

  it("a throwing event listener does not break calls", async () => {
    const { client } = setupClient({
      onEvent: () => {
        throw new Error("listener bug");
      },
    });
    expect(await client.set("a", "b")).toBe(1n);
  });

  it("an aborted signal cancels before sending", async () => {
    const { cluster, client } = setupClient();
    await warm(client);
    const controller = new AbortController();
    controller.abort();
    await expect(client.set("a", "b", { signal: controller.signal })).rejects.toMatchObject({ name: "CanceledError" });
    expect(cluster.callsTo("set")).toHaveLength(0);
  });

  it("stats asks every node and lists the unreachable ones", async () => {
    const { cluster, client } = setupClient();
    await client.set("a", "1");
    cluster.down.add("n3");
    const stats = await client.stats();
    expect(stats.nodes.map((n) => n.nodeId)).toEqual(["n1", "n2"]);
    expect(stats.unreachable.map((n) => [n.nodeId, n.error.name])).toEqual([["n3", "UnavailableError"]]);
  });
});

describe("getOrLoad (single flight)", () => {
  it("a burst of misses on one key loads once and stores the value once", async () => {
    const { cluster, client } = setupClient();
    await warm(client);
    let loads = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const load = async (key: string) => {
      loads++;
      await gate;
      return `loaded ${key}`;
    };
    const calls = Array.from({ length: 20 }, () => client.getOrLoad("hot", load, { ttlMs: 30_000 }));
    release();
    const results = await Promise.all(calls);
    expect(loads).toBe(1);
    expect(new Set(results.map((r) => r.text))).toEqual(new Set(["loaded hot"]));
    expect(cluster.callsTo("set")).toHaveLength(1);
    expect(cluster.callsTo("get")).toHaveLength(1);
    expect(cluster.peek("hot")?.text).toBe("loaded hot");
    expect(client.loadStats).toEqual({ calls: 20, coalesced: 19 });
    // A hit afterwards reads, without loading.
    expect((await client.getOrLoad("hot", load)).text).toBe("loaded hot");
    expect(loads).toBe(1);
  });

  it("clients in different processes that miss together agree on the first value stored", async () => {
    const cluster = new FakeCluster();
    const a = setupClient({ sessionId: "s-a" }, cluster).client;
    const b = setupClient({ sessionId: "s-b" }, cluster).client;
    await Promise.all([warm(a), warm(b)]);
    let releaseA!: () => void;
    const gateA = new Promise<void>((r) => (releaseA = r));
    const fromA = a.getOrLoad("k", async () => {
      await gateA;
      return "from a";
    });
    // b misses too, loads faster and stores first.
    const fromB = await b.getOrLoad("k", () => Promise.resolve("from b"));
    releaseA();
    expect(fromB.text).toBe("from b");
    expect((await fromA).text).toBe("from b");
    expect(cluster.peek("k")?.text).toBe("from b");
  });

  it("a load error reaches every waiter and stores nothing; the next call loads again", async () => {
    const { cluster, client } = setupClient();
    await warm(client);
    const failing = () => Promise.reject(new Error("database down"));
    const calls = [client.getOrLoad("k", failing), client.getOrLoad("k", failing)];
    for (const call of calls) await expect(call).rejects.toThrow("database down");
    expect(cluster.peek("k")).toBeUndefined();
    expect((await client.getOrLoad("k", () => Promise.resolve(new Uint8Array([1, 2])))).value).toEqual(new Uint8Array([1, 2]));
  });
});

describe("transferLeader", () => {
  it("asks the shard's leader to hand over, then routes to the new leader", async () => {
    const { cluster, client } = setupClient();
    await warm(client);
    const shard = 2;
    const before = cluster.leaderOf(shard)!;
    const target = otherNode(cluster, shard);
    expect(await client.transferLeader(shard, target)).toBe(target);
    expect(cluster.callsTo("transferLeader").map((c) => c.nodeId)).toEqual([before]);
    await client.set(cluster.keyForShard(shard), "after");
    expect(cluster.callsTo("set").map((c) => c.nodeId)).toEqual([target]);
  });

  it("refuses a bad shard before sending, and maps the server's refusal", async () => {
    const { cluster, client } = setupClient();
    await warm(client);
    await expect(client.transferLeader(-1)).rejects.toMatchObject({ name: "InvalidArgumentError" });
    for (const bad of ["", "n".repeat(65), "bad id", 7 as unknown as string]) {
      await expect(client.transferLeader(0, bad)).rejects.toMatchObject({
        name: "InvalidArgumentError",
        message: expect.stringMatching(/toNodeId must be a node id/),
      });
    }
    await expect(client.transferLeader(0, "n9")).rejects.toMatchObject({ name: "InvalidArgumentError", message: expect.stringMatching(/unknown node/) });
    expect(cluster.callsTo("transferLeader")).toHaveLength(1);
  });
});
