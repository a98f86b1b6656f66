import { describe, expect, it } from "vitest";
import { createCacheClient } from "./cache-client.js";
import { resolveOptions, WRITES_IN_FLIGHT_MAX_DEFAULT } from "./client-options.js";
import { NotACounterError, ResourceExhaustedError, TooManyInFlightError, VersionMismatchError, WriteResultForgottenError } from "./errors.js";
import { FakeCluster, resultForgotten, tooManyInFlight } from "./testing/fake-cluster.js";
import { setupClient, warm } from "./testing/setup-client.js";

/*
 * A session's refusals have their own error classes ("too many unacknowledged writes" is
 * retried with the same sequence; "result forgotten" never is), getOrLoad never writes
 * over a value it did not load, and a client bounds the writes it has in flight.
 */

describe("a session with too many unacknowledged writes", () => {
  it("is retried after backoff with the same session and sequence, and the write applies once", async () => {
    const { cluster, client, time, events } = setupClient();
    await warm(client);
    const key = cluster.keyForShard(1);
    const leader = cluster.leaderOf(1)!;
    cluster.failNext(leader, "set", tooManyInFlight(1, "s-test"));
    cluster.failNext(leader, "set", tooManyInFlight(1, "s-test"));
    expect(await client.set(key, "v")).toBe(1n);
    const sets = cluster.callsTo("set");
    expect(sets.map((c) => [c.nodeId, c.header?.sessionId, c.header?.sequence])).toEqual([
      [leader, "s-test", 1n],
      [leader, "s-test", 1n],
      [leader, "s-test", 1n],
    ]);
    expect(cluster.peek(key)).toEqual({ text: "v", version: 1n });
    expect(time.sleeps.length).toBe(2);
    expect(time.sleeps.every((ms) => ms > 0)).toBe(true);
    expect(events.filter((e) => e.type === "retry").map((e) => e.type === "retry" && e.reason)).toEqual(["tooManyInFlight", "tooManyInFlight"]);
  });

  it("fails with TooManyInFlightError (resource_exhausted), not VersionMismatchError, once the attempts run out", async () => {
    const { cluster, client } = setupClient({ attemptsMax: 2 });
    await warm(client);
    const key = cluster.keyForShard(2);
    const leader = cluster.leaderOf(2)!;
    for (let i = 0; i < 2; i++) cluster.failNext(leader, "set", tooManyInFlight(2, "s-test"));
    const err = await client.set(key, "v", { ifVersion: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TooManyInFlightError);
    expect(err).toBeInstanceOf(ResourceExhaustedError);
    expect(err).not.toBeInstanceOf(VersionMismatchError);
    expect(cluster.callsTo("set")).toHaveLength(2);
    expect(cluster.peek(key)).toBeUndefined();
  });
});

describe("a write whose acknowledged result the shard no longer keeps", () => {
  it("fails with WriteResultForgottenError, never retried, for set and incr alike", async () => {
    const { cluster, client } = setupClient();
    await warm(client);
    const key = cluster.keyForShard(0);
    const leader = cluster.leaderOf(0)!;
    cluster.failNext(leader, "set", resultForgotten(0, "s-test", 1n));
    const setErr = await client.set(key, "v").catch((e: unknown) => e);
    expect(setErr).toBeInstanceOf(WriteResultForgottenError);
    expect(setErr).not.toBeInstanceOf(VersionMismatchError);
    expect(setErr).toMatchObject({ code: 9, shard: 0, sessionId: "s-test", sequence: 1n });
    cluster.failNext(leader, "incr", resultForgotten(0, "s-test", 2n));
    const incrErr = await client.incr(key).catch((e: unknown) => e);
    expect(incrErr).toBeInstanceOf(WriteResultForgottenError);
    expect(incrErr).not.toBeInstanceOf(NotACounterError);
    expect(cluster.callsTo("set")).toHaveLength(1);
    expect(cluster.callsTo("incr")).toHaveLength(1);
  });
});

describe("getOrLoad never writes over a value it did not load", () => {
  it("returns the value another client stored between the miss and the create", async () => {
    const cluster = new FakeCluster();
    const a = setupClient({ sessionId: "s-a" }, cluster).client;
    const b = setupClient({ sessionId: "s-b" }, cluster).client;
    await Promise.all([warm(a), warm(b)]);
    const got = await a.getOrLoad("k", async () => {
      await b.set("k", "from b");
      return "from a";
    });
    expect(got.text).toBe("from b");
    expect(cluster.peek("k")?.text).toBe("from b");
    expect(cluster.callsTo("set").filter((c) => c.header?.sessionId === "s-a")).toHaveLength(1);
  });

  it("when that value is gone again, stores its own only if the key is still absent, and returns a newer one otherwise", async () => {
    const cluster = new FakeCluster();
    const a = setupClient({ sessionId: "s-a" }, cluster).client;
    const b = setupClient({ sessionId: "s-b" }, cluster).client;
    await Promise.all([warm(a), warm(b)]);
    const leader = cluster.leaderOf(cluster.ring.shardFor("k"))!;
    const got = await a.getOrLoad("k", async () => {
      // b stores first, so a's create is refused; b deletes it before a reads it back,
      // then writes a newer value just before a's next write arrives.
      await b.set("k", "b1");
      cluster.beforeNext(leader, "get", async () => {
        await b.delete("k");
        cluster.beforeNext(leader, "set", async () => void (await b.set("k", "b2")));
      });
      return "from a";
    });
    expect(cluster.peek("k")?.text).toBe("b2");
    expect(got.text).toBe("b2");
  });
});

describe("writesInFlightMax", () => {
  it("is 512 by default and refused outside [1, 1024]", () => {
    const cluster = new FakeCluster();
    expect(WRITES_IN_FLIGHT_MAX_DEFAULT).toBe(512);
    expect(resolveOptions({ transport: cluster.transport, seeds: [cluster.urlOf("n1")] }).writesInFlightMax).toBe(512);
    expect(() => setupClient({ writesInFlightMax: 0 }, cluster)).toThrow(RangeError);
    expect(() => setupClient({ writesInFlightMax: 1025 }, cluster)).toThrow(RangeError);
    expect(() => setupClient({ writesInFlightMax: 1024 }, cluster)).not.toThrow();
  });

  it("holds a write beyond the bound until one in flight finishes", async () => {
    const cluster = new FakeCluster();
    // Real time: the waiting write must wait, not see its deadline pass at once.
    const client = createCacheClient({
      transport: cluster.transport,
      seeds: [cluster.urlOf("n1")],
      sessionId: "s-test",
      writesInFlightMax: 2,
      timeoutMs: 5000,
    });
    await warm(client);
    const keys = [0, 1, 2].map((s) => cluster.keyForShard(s));
    const releases = keys.slice(0, 2).map((k) => cluster.holdNext(cluster.leaderOf(cluster.ring.shardFor(k))!, "set"));
    const first = keys.slice(0, 2).map((k) => client.set(k, "v"));
    const third = client.set(keys[2]!, "v");
    await new Promise((r) => setTimeout(r, 50));
    // The two first are held at their nodes; the third was not sent.
    expect(cluster.callsTo("set")).toHaveLength(0);
    expect(cluster.peek(keys[2]!)).toBeUndefined();
    releases[0]!();
    await first[0];
    await third;
    expect(cluster.peek(keys[2]!)?.text).toBe("v");
    expect(cluster.callsTo("set").map((c) => c.keys[0])).toEqual([keys[0], keys[2]]);
    releases[1]!();
    await first[1];
    await client.close();
  });

  it("fails a waiting write with ResourceExhaustedError, unsent, when its deadline passes first", async () => {
    const cluster = new FakeCluster();
    const client = createCacheClient({ transport: cluster.transport, seeds: [cluster.urlOf("n1")], sessionId: "s-test", writesInFlightMax: 1 });
    await warm(client);
    const held = cluster.keyForShard(0);
    const release = cluster.holdNext(cluster.leaderOf(0)!, "set");
    const first = client.set(held, "v");
    const started = Date.now();
    const err = await client.set(cluster.keyForShard(1), "w", { timeoutMs: 60 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResourceExhaustedError);
    expect(err).not.toBeInstanceOf(TooManyInFlightError);
    expect((err as Error).message).toMatch(/writesInFlightMax/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
    release();
    await first;
    expect(cluster.callsTo("set").map((c) => c.keys[0])).toEqual([held]);
    // The slot is free again.
    expect(await client.set(cluster.keyForShard(1), "w")).toBeGreaterThan(0n);
    await client.close();
  });
});
