import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { IndeterminateWriteError, SessionExpiredError } from "./errors.js";
import type { CacheEvent } from "./events.js";
import { sessionExpired, type FakeCluster, type ReceivedCall } from "./testing/fake-cluster.js";
import { setupClient } from "./testing/setup-client.js";

/*
 * A shard that no longer holds the client's write session refuses its writes (not
 * applied, FAILED_PRECONDITION with a SessionExpired detail). The client then starts a
 * new session for every later write; the refused write is resent under it only if it was
 * its first send, and otherwise fails with SessionExpiredError (outcome unknown).
 */

const session = (call: ReceivedCall | undefined) => [call?.header?.sessionId, call?.header?.sequence, call?.header?.ackedSequence];
type Renewal = Extract<CacheEvent, { type: "sessionRenewed" }>;
const renewals = (events: CacheEvent[]) => events.filter((e): e is Renewal => e.type === "sessionRenewed");
/** Lets every pending microtask run, so calls started reach the fake's hold. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("session expiry", () => {
  it("resends a first send refused as expired once, under a new session, and later writes use it", async () => {
    const { cluster, client, events } = setupClient({ sessionId: "s-old" });
    const [k0, k1] = [cluster.keyForShard(0), cluster.keyForShard(1)];
    await client.set(k0, "before");
    cluster.expireSession("s-old");
    const version = await client.set(k1, "v");
    expect(cluster.peek(k1)).toEqual({ text: "v", version });
    const [, refused, resent] = cluster.callsTo("set");
    expect(session(refused)).toEqual(["s-old", 2n, 1n]);
    const fresh = resent!.header!.sessionId;
    expect(fresh).toMatch(/^[0-9a-f]{32}$/);
    expect(session(resent)).toEqual([fresh, 1n, 0n]);
    expect(renewals(events)).toEqual([{ type: "sessionRenewed", shard: 1, expiredSessionId: "s-old", sessionId: fresh }]);
    expect(events).toContainEqual({ type: "retry", shard: 1, attempt: 2, reason: "sessionExpired", delayMs: 0 });

    // Every later write, to any shard and of any kind, is numbered in the new session.
    expect(await client.incr(cluster.keyForShard(3, "counter"), 2)).toBe(2n);
    await client.mset([
      { key: k0, value: "m" },
      { key: cluster.keyForShard(2), value: "m" },
    ]);
    await client.delete(k1);
    const later = [...cluster.callsTo("incr"), ...cluster.callsTo("mSet"), ...cluster.callsTo("delete")];
    // Watermarks are per shard: the batch part to shard 2 acknowledges 3, which went to shard 0.
    expect(later.map(session)).toEqual([
      [fresh, 2n, 1n],
      [fresh, 3n, 2n],
      [fresh, 4n, 3n],
      [fresh, 5n, 4n],
    ]);
    expect(renewals(events)).toHaveLength(1);
  });

  it("sends the session's start time, and starts the new session after the time the shard names", async () => {
    const { cluster, client } = setupClient({ sessionId: "s-old" });
    const before = BigInt(Date.now());
    await client.set(cluster.keyForShard(0), "before");
    const first = cluster.callsTo("set")[0]!.header!;
    expect(first.sessionStartedMs).toBeGreaterThan(0n);
    expect(first.sessionStartedMs).toBeLessThanOrEqual(before);
    // The shard's floor is far ahead of this client's clock: the new session must still begin after it.
    const floorMs = before + 3_600_000n;
    cluster.expireSession("s-old", undefined, floorMs);
    await client.set(cluster.keyForShard(1), "v");
    const resent = cluster.callsTo("set").at(-1)!.header!;
    expect(resent.sessionId).not.toBe("s-old");
    expect(resent.sessionStartedMs).toBe(floorMs + 1n);
    await client.delete(cluster.keyForShard(2));
    expect(cluster.callsTo("delete")[0]!.header!.sessionStartedMs).toBe(floorMs + 1n);
  });

  it("a first send is still a first send after refused connections", async () => {
    const { cluster, client } = setupClient({ sessionId: "s-old" });
    await client.topology();
    const key = cluster.keyForShard(0);
    cluster.down.add(cluster.leaderOf(0)!);
    cluster.setLeader(0, "n2");
    cluster.expireSession("s-old");
    await client.set(key, "v");
    expect(cluster.peek(key)?.text).toBe("v");
    expect(cluster.callsTo("set").map((c) => c.header?.sessionId === "s-old")).toEqual([true, false]);
  });

  const earlierSends: [string, (cluster: FakeCluster, shard: number) => void][] = [
    [
      "a NotLeader redirect",
      (cluster, shard) =>
        cluster.setLeader(
          shard,
          cluster.nodeIds.find((id) => id !== cluster.leaderOf(shard)),
        ),
    ],
    [
      "an unavailable answer that asked for a retry",
      (cluster, shard) =>
        cluster.failNext(
          cluster.leaderOf(shard)!,
          "set",
          new ConnectError("shard 0: the write was superseded by a new leader and did not take effect; retry", Code.Unavailable),
        ),
    ],
  ];

  it.each(earlierSends)("a retried send refused as expired (after %s) fails with SessionExpiredError and is not resent", async (_, arrange) => {
    const { cluster, client, events } = setupClient({ sessionId: "s-old" });
    await client.topology();
    const key = cluster.keyForShard(0);
    arrange(cluster, 0);
    cluster.expireSession("s-old");
    const err = await client.set(key, "v").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionExpiredError);
    expect(err).toBeInstanceOf(IndeterminateWriteError);
    expect(err).toMatchObject({ code: Code.FailedPrecondition, shard: 0, sessionId: "s-old" });
    expect((err as Error).message).toMatch(/^set of "k\d+" may or may not have taken effect/);
    expect(cluster.callsTo("set").map(session)).toEqual([
      ["s-old", 1n, 0n],
      ["s-old", 1n, 0n],
    ]);
    expect(cluster.peek(key)).toBeUndefined();
    // The client moved on: the next write starts the new session at sequence 1.
    await client.set(key, "next");
    const [renewed] = renewals(events);
    expect(renewed).toMatchObject({ shard: 0, expiredSessionId: "s-old" });
    expect(renewed!.sessionId).not.toBe("s-old");
    expect(session(cluster.callsTo("set").at(-1))).toEqual([renewed!.sessionId, 1n, 0n]);
    expect(cluster.peek(key)?.text).toBe("next");
  });

  it("resends at most once: a resend refused as expired again fails with SessionExpiredError", async () => {
    const { cluster, client, events } = setupClient({ sessionId: "s-old" });
    const key = cluster.keyForShard(3);
    const leader = cluster.leaderOf(3)!;
    cluster.failNext(leader, "incr", sessionExpired(3, "s-old"));
    cluster.failNext(leader, "incr", sessionExpired(3, "whatever"));
    await expect(client.incr(key)).rejects.toBeInstanceOf(SessionExpiredError);
    expect(cluster.callsTo("incr")).toHaveLength(2);
    expect(renewals(events)).toHaveLength(2);
    expect(cluster.peek(key)).toBeUndefined();
  });

  it("a batch part refused as expired is resent; the other parts keep their session", async () => {
    const { cluster, client } = setupClient({ sessionId: "s-old" });
    const keys = [cluster.keyForShard(0), cluster.keyForShard(1), cluster.keyForShard(2)];
    cluster.expireSession("s-old", [1]);
    expect(await client.mset(keys.map((key) => ({ key, value: "v" })))).toHaveLength(3);
    for (const key of keys) expect(cluster.peek(key)?.text).toBe("v");
    const byShard = (shard: number) => cluster.callsTo("mSet").filter((c) => cluster.ring.shardFor(c.keys[0]!) === shard);
    expect(byShard(0).map((c) => c.header?.sessionId)).toEqual(["s-old"]);
    expect(byShard(1).map((c) => c.header?.sessionId === "s-old")).toEqual([true, false]);
  });

  it("writes in flight on the replaced session finish on it", async () => {
    const { cluster, client } = setupClient({ sessionId: "s-old" });
    await client.topology();
    const [k0, k1] = [cluster.keyForShard(0), cluster.keyForShard(1)];
    const release = cluster.holdNext(cluster.leaderOf(0)!, "set");
    const inFlight = client.set(k0, "a");
    await settle();
    cluster.expireSession("s-old", [1]);
    await client.set(k1, "b");
    const fresh = cluster.callsTo("set").at(-1)!.header!.sessionId;
    expect(fresh).not.toBe("s-old");
    release();
    expect(await inFlight).toBe(cluster.peek(k0)?.version);
    const first = cluster.callsTo("set").find((c) => c.keys[0] === k0);
    expect(session(first)).toEqual(["s-old", 1n, 0n]);
    // The new session's watermark covers its own write only.
    await client.set(k0, "c");
    expect(session(cluster.callsTo("set").at(-1))).toEqual([fresh, 2n, 1n]);
  });

  it("writes refused together start one new session, not one each", async () => {
    const { cluster, client, events } = setupClient({ sessionId: "s-old" });
    await client.topology();
    const [k0, k1] = [cluster.keyForShard(0), cluster.keyForShard(1)];
    const releases = [cluster.holdNext(cluster.leaderOf(0)!, "set"), cluster.holdNext(cluster.leaderOf(1)!, "set")];
    const writes = [client.set(k0, "a"), client.set(k1, "b")];
    await settle();
    cluster.expireSession("s-old");
    for (const release of releases) release();
    await Promise.all(writes);
    expect(renewals(events)).toHaveLength(1);
    const resent = cluster.callsTo("set").filter((c) => c.header?.sessionId !== "s-old");
    expect(new Set(resent.map((c) => c.header?.sessionId)).size).toBe(1);
    expect(resent.map((c) => c.header?.sequence).sort()).toEqual([1n, 2n]);
    expect([cluster.peek(k0)?.text, cluster.peek(k1)?.text]).toEqual(["a", "b"]);
  });

  it("reads are unaffected: they carry no session", async () => {
    const { cluster, client } = setupClient({ sessionId: "s-old" });
    const key = cluster.keyForShard(0);
    await client.set(key, "v");
    cluster.expireSession("s-old");
    expect(await client.getText(key)).toBe("v");
    expect(await client.mget([key, key])).toHaveLength(2);
  });
});
