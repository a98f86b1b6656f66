import { afterEach, describe, expect, it } from "vitest";
import { NotLeaderError } from "./port-errors.js";
import type { MultiRaft } from "./multi-raft.js";
import { closeTestClusters, leaderOf, openTestCluster, setOp, until, type BatchFilter } from "./testing/multi-raft-harness.js";

const pending = (node: MultiRaft) => {
  const { awaitingIndex, awaitingApply } = node.pendingReads(0);
  return awaitingIndex + awaitingApply;
};

// Strong reads a replica holds: released when they time out, failed when the leader they
// asked is no longer the leader, and bounded in number.

afterEach(closeTestClusters);

describe("pending strong reads", () => {
  it("leave nothing behind once they time out, at whichever stage they waited", async () => {
    // The follower gets heartbeats and read-index answers, but no entries: a read it asks
    // for is confirmed at an index it never applies.
    const target: { starve?: string } = {};
    const filter: BatchFilter = (_from, to, messages) => (to === target.starve ? messages.filter((m) => m.message.type !== "app") : messages);
    const { nodes } = await openTestCluster({ ids: ["a", "b", "c"], shards: 1, filter, operationTimeoutMs: 300 });
    const leader = await leaderOf(nodes, 0);
    const follower = [...nodes.keys()].find((id) => id !== leader)!;
    await nodes.get(leader)!.propose(0, setOp("k", "v0"));
    await until(() => nodes.get(follower)!.replica(0).appliedIndex >= nodes.get(leader)!.replica(0).appliedIndex, "the follower caught up");
    target.starve = follower;
    await nodes.get(leader)!.propose(0, setOp("k", "v1"));
    const reads = Array.from({ length: 1000 }, () =>
      nodes
        .get(follower)!
        .readBarrier(0)
        .then(
          () => "served",
          (err: unknown) => err,
        ),
    );
    // Confirmed at an index the follower never applies: they wait at the second stage.
    await until(() => nodes.get(follower)!.pendingReads(0).awaitingApply === 1000, "the reads wait for their index to apply");
    const outcomes = await Promise.all(reads);
    expect(outcomes.every((o) => o instanceof NotLeaderError)).toBe(true);
    expect(nodes.get(follower)!.pendingReads(0)).toEqual({ awaitingIndex: 0, awaitingApply: 0, awaitingStamp: 0 });
  });

  it("fail at once with NotLeader when the follower's known leader changes", async () => {
    // Read-index answers to the follower are lost: its reads wait on the old leader.
    let mute = false;
    const filter: BatchFilter = (_from, _to, messages) => (mute ? messages.filter((m) => m.message.type !== "readIndexResp") : messages);
    const { nodes } = await openTestCluster({ ids: ["a", "b", "c"], shards: 1, filter, operationTimeoutMs: 60_000 });
    const leader = await leaderOf(nodes, 0);
    const [follower, other] = [...nodes.keys()].filter((id) => id !== leader) as [string, string];
    // The follower must know the leader to ask it for a read index (else the read is refused at once).
    expect(await nodes.get(follower)!.awaitLeader(0, 5000)).toBe(true);
    mute = true;
    const started = Date.now();
    const read = nodes
      .get(follower)!
      .readBarrier(0)
      .then(
        () => "served",
        (err: unknown) => err,
      );
    await until(() => nodes.get(follower)!.pendingReads(0).awaitingIndex === 1, "the read waits for its index");
    // Any change of leader will do (under a loaded machine an election may come first).
    await nodes
      .get(leader)!
      .transferLeadership(0, other, 5000)
      .catch(() => undefined);
    const outcome = await read;
    expect(outcome).toBeInstanceOf(NotLeaderError);
    expect((outcome as NotLeaderError).reason).toMatch(/leader changed|leadership lost/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(pending(nodes.get(follower)!)).toBe(0);
  });

  it("are refused as overloaded above the replica's bound, and the node keeps serving", async () => {
    let mute = false;
    const filter: BatchFilter = (_from, _to, messages) => (mute ? messages.filter((m) => m.message.type !== "readIndexResp") : messages);
    // The write's stamp is recent enough here, so the follower serves the last read itself.
    const { nodes } = await openTestCluster({ ids: ["a", "b", "c"], shards: 1, filter, operationTimeoutMs: 500, readStampLagMsMax: 3_600_000 });
    const leader = await leaderOf(nodes, 0);
    const follower = [...nodes.keys()].find((id) => id !== leader)!;
    await nodes.get(leader)!.propose(0, setOp("k", "v"));
    expect(await nodes.get(follower)!.awaitLeader(0, 5000)).toBe(true);
    mute = true;
    const reads = Array.from({ length: 4200 }, () =>
      nodes
        .get(follower)!
        .readBarrier(0)
        .then(
          () => "served",
          (err: unknown) => (err as Error).name,
        ),
    );
    const outcomes = await Promise.all(reads);
    expect(outcomes.filter((o) => o === "OverloadedError")).toHaveLength(4200 - 4096);
    mute = false;
    await expect(nodes.get(follower)!.readBarrier(0)).resolves.toBeUndefined();
  });
});
