import { create } from "@bufbuild/protobuf";
import { SetOpSchema } from "@distcache/proto/raft";
import { afterEach, describe, expect, it } from "vitest";
import type { MultiRaft } from "./multi-raft.js";
import { NotLeaderError } from "./port-errors.js";
import { ControlledClock } from "./controlled-clock.js";
import { closeTestClusters, leaderOf, openTestCluster, setOp, until, type BatchFilter } from "./testing/multi-raft-harness.js";

// Cluster time on nodes whose wall and monotonic clocks are driven apart (invariant 9 of
// docs/design.md): stepping a leader's wall clock neither stretches nor cuts a TTL beyond
// the documented bound, and a key never comes back when leadership moves to a node whose
// clock is behind.

afterEach(closeTestClusters);

const ids = ["a", "b", "c"];
const SHARD = 0;
const TTL_MS = 2_000;
/** The accuracy bound (read stamp lag 50 ms, slew 1% of the TTL, apply lag) plus room for a loaded machine's timers. */
const LATE_MS = 50 + TTL_MS * 0.01 + 250;

const sleepUntil = (atMs: number) => new Promise((r) => setTimeout(r, Math.max(0, atMs - performance.now())));

const ttlSet = (key: string) => ({
  case: "set" as const,
  value: create(SetOpSchema, { key, value: new TextEncoder().encode("v"), text: true, ttlMs: BigInt(TTL_MS) }),
});

/** A strong read as the service serves it: past the read index, judged at the last applied stamp. */
async function strongHas(node: MultiRaft, key: string): Promise<boolean> {
  await node.readBarrier(SHARD);
  const machine = node.replica(SHARD);
  return machine.store.get(key, machine.lastStampMs) !== undefined;
}

/** An eventual read as the service serves it: judged at the node's cluster time. */
const eventualHas = (node: MultiRaft, key: string) => node.replica(SHARD).store.get(key, node.clusterTimeMs(SHARD)) !== undefined;

async function threeNodes(options: { filter?: BatchFilter; operationTimeoutMs?: number; delayMs?: (from: string, to: string) => number } = {}) {
  const clocks: Record<string, ControlledClock> = Object.fromEntries(ids.map((id) => [id, new ControlledClock()]));
  const { nodes, isolate } = await openTestCluster({ ids, shards: 1, clocks, ...options });
  const leader = await leaderOf(nodes, SHARD);
  // A first command: every replica's time is anchored in this process from here on.
  await nodes.get(leader)!.propose(SHARD, setOp("warm", "x"));
  return { nodes, clocks, leader, isolate };
}

describe("cluster time", () => {
  for (const stepMs of [60_000, -60_000]) {
    it(`a ${stepMs > 0 ? "+" : ""}${stepMs / 1000} s wall step on the leader neither cuts nor stretches a TTL beyond the bound`, async () => {
      const { nodes, clocks, leader } = await threeNodes();
      const node = nodes.get(leader)!;
      const monotonicMs = () => clocks[leader]!.monotonicMs();
      // Each stamp is given between the readings taken before its proposal and after its answer.
      const writeProposed = monotonicMs();
      await node.propose(SHARD, ttlSet("k"));
      const acked = performance.now();
      const writeAnswered = monotonicMs();
      const stampAtWrite = node.replica(SHARD).lastStampMs;
      clocks[leader]!.stepWall(stepMs);
      // Writes and time entries go on being stamped meanwhile.
      await node.propose(SHARD, setOp("other", "1"));
      await sleepUntil(acked + TTL_MS * 0.25);
      expect(await strongHas(node, "k")).toBe(true);
      for (const id of ids) expect(eventualHas(nodes.get(id)!, "k"), id).toBe(true);
      await sleepUntil(acked + TTL_MS + LATE_MS);
      expect(await strongHas(node, "k")).toBe(false);
      const lastProposed = monotonicMs();
      await node.propose(SHARD, setOp("other", "2"));
      const lastAnswered = monotonicMs();
      for (const id of ids) expect(eventualHas(nodes.get(id)!, "k"), id).toBe(false);
      // Cluster time went on at the leader's monotonic rate, gaining at most 1% on its wall clock.
      const stampGain = node.replica(SHARD).lastStampMs - stampAtWrite;
      expect(stampGain).toBeGreaterThanOrEqual(lastProposed - writeAnswered - 5);
      expect(stampGain).toBeLessThanOrEqual((lastAnswered - writeProposed) * (stepMs > 0 ? 1.01 : 1) + 1);
    });
  }

  it("a key never reappears once leadership moves to a node whose clocks are behind and slower, and TTLs written there still end in time", async () => {
    const { nodes, clocks, leader } = await threeNodes();
    const slow = ids.find((id) => id !== leader)!;
    clocks[slow]!.stepWall(-60_000);
    clocks[slow]!.setRate(0.98);
    await nodes.get(leader)!.propose(SHARD, ttlSet("gone"));
    const acked = performance.now();
    await sleepUntil(acked + TTL_MS + LATE_MS);
    expect(await strongHas(nodes.get(leader)!, "gone")).toBe(false);

    await nodes.get(leader)!.transferLeadership(SHARD, slow, 5_000);
    const watchUntil = performance.now() + 500;
    let served = 0;
    while (performance.now() < watchUntil) {
      for (const id of ids) expect(eventualHas(nodes.get(id)!, "gone"), id).toBe(false);
      // Served by the new leader; refused only while it was still taking over.
      const strong = await strongHas(nodes.get(slow)!, "gone").catch((err: unknown) => {
        if (err instanceof NotLeaderError) return undefined;
        throw err;
      });
      if (strong !== undefined) served++;
      expect(strong).not.toBe(true);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(served).toBeGreaterThan(5);

    // Under the slow node's lead, time still runs (at its monotonic rate), so a TTL ends.
    await nodes.get(slow)!.propose(SHARD, ttlSet("later"));
    const laterAcked = performance.now();
    await sleepUntil(laterAcked + TTL_MS * 0.25);
    expect(await strongHas(nodes.get(slow)!, "later")).toBe(true);
    await sleepUntil(laterAcked + TTL_MS / 0.98 + LATE_MS);
    expect(await strongHas(nodes.get(slow)!, "later")).toBe(false);
  });

  it("a new leader that commits its predecessor's last entries late keeps the predecessor's time, so no TTL outlives the bound", async () => {
    // The leader's last entries reach the followers, but their acknowledgements do not
    // come back: the entries commit only under the next leader, long after their stamps.
    const link = { dropAcksTo: "" };
    const filter: BatchFilter = (_from, to, messages) => (to === link.dropAcksTo ? messages.filter((m) => m.message.type !== "appResp") : messages);
    const { nodes, leader, isolate } = await threeNodes({ filter });
    const old = nodes.get(leader)!;
    await old.propose(SHARD, ttlSet("k"));
    const acked = performance.now();
    link.dropAcksTo = leader;
    old.propose(SHARD, setOp("tail", "1")).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 400));
    isolate(leader);
    const next = nodes.get(await leaderOf(nodes, SHARD, leader))!;
    await until(() => next.replica(SHARD).store.get("tail", next.clusterTimeMs(SHARD)) !== undefined, "the new leader applies the old leader's last entry");
    // Both clocks are the real one: the two estimates agree to within a message's delay and a tick.
    expect(Math.abs(next.clusterTimeMs(SHARD) - old.clusterTimeMs(SHARD))).toBeLessThan(40);
    await sleepUntil(acked + TTL_MS + LATE_MS);
    expect(await strongHas(next, "k")).toBe(false);
  });

  it("a strong read on a follower whose link from the leader is slow is judged no earlier than the leader's time when it answered", async () => {
    // The leader's frames reach one follower 600 ms late; the other follower makes the quorum.
    const linkSlow = { on: false };
    const { nodes, leader } = await threeNodes({ delayMs: (from, to) => (linkSlow.on && to === slowFollower && from !== slowFollower ? 600 : 0) });
    const slowFollower = ids.find((id) => id !== leader)!;
    const head = nodes.get(leader)!;
    await head.propose(SHARD, ttlSet("k"));
    const acked = performance.now();
    linkSlow.on = true;
    // Writes go on until 300 ms before the key expires: the slow follower applies the last
    // of them 300 ms after it expires, and its own estimate, 600 ms behind, finds that stamp recent.
    while (performance.now() < acked + TTL_MS - 300) await head.propose(SHARD, setOp("w", "x"));
    await sleepUntil(acked + TTL_MS + LATE_MS);
    const served = await strongHas(nodes.get(slowFollower)!, "k").catch((err: unknown) => {
      if (err instanceof NotLeaderError) return "refused";
      throw err;
    });
    expect(served).not.toBe(true);
  });

  it("a strong read on a shard with no recent stamp waits for one time entry, shared by the reads that need it", async () => {
    const { nodes, leader } = await threeNodes();
    const node = nodes.get(leader)!;
    await new Promise((r) => setTimeout(r, 200));
    const before = node.replica(SHARD).appliedIndex;
    const stampBefore = node.replica(SHARD).lastStampMs;
    await Promise.all(Array.from({ length: 20 }, () => node.readBarrier(SHARD)));
    // One time entry (and nothing else) was appended for the 20 reads, and it carried time forward.
    expect(node.replica(SHARD).appliedIndex).toBe(before + 1);
    expect(node.replica(SHARD).lastStampMs).toBeGreaterThanOrEqual(stampBefore + 200);
    // A follower whose last stamp is too old sends the read to the leader.
    await new Promise((r) => setTimeout(r, 200));
    const follower = ids.find((id) => id !== leader)!;
    await expect(nodes.get(follower)!.readBarrier(SHARD)).rejects.toMatchObject({ name: "NotLeaderError", leaderId: leader });
    expect(nodes.get(follower)!.pendingReads(SHARD)).toEqual({ awaitingIndex: 0, awaitingApply: 0, awaitingStamp: 0 });
  });

  it("strong reads waiting for a time entry that cannot commit leave nothing behind when they time out", async () => {
    // The leader's appends are dropped once the shard is warm: its time entry never commits.
    const target: { starve: boolean } = { starve: false };
    const filter: BatchFilter = (_from, _to, messages) => (target.starve ? messages.filter((m) => m.message.type !== "app") : messages);
    const { nodes, leader } = await threeNodes({ filter, operationTimeoutMs: 400 });
    const node = nodes.get(leader)!;
    await new Promise((r) => setTimeout(r, 100));
    target.starve = true;
    const reads = Array.from({ length: 50 }, () =>
      node.readBarrier(SHARD).then(
        () => "served",
        (err: unknown) => (err as Error).name,
      ),
    );
    await until(() => node.pendingReads(SHARD).awaitingStamp === 50, "the reads wait for a time entry");
    expect(await Promise.all(reads)).toEqual(Array.from({ length: 50 }, () => "NotLeaderError"));
    expect(node.pendingReads(SHARD)).toEqual({ awaitingIndex: 0, awaitingApply: 0, awaitingStamp: 0 });
  });
});
