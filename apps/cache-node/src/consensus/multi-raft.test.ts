import { afterEach, describe, expect, it } from "vitest";
import type { ReadIndexResponseMessage } from "@distcache/raft";
import type { MultiRaft } from "./multi-raft.js";
import { NotLeaderError } from "./port-errors.js";
import { encodePeerBatch } from "../peer/wire/peer-wire.js";
import { ReadContexts } from "./read-context.js";
import { closeTestClusters, leaderOf, openTestCluster, setOp, type TestClusterOptions } from "./testing/multi-raft-harness.js";

const ids = ["n1", "n2", "n3"];
const SHARDS = 4;
afterEach(closeTestClusters);

/**
 * Three nodes in one process, joined by an in-memory network that can cut links. Any
 * stamp is recent enough for their strong reads, so a follower serves the reads these
 * tests hold and release itself (cluster-time.test.ts covers how recent a stamp must be).
 */
const cluster = (options: Pick<TestClusterOptions, "snapshotEntries" | "filter"> = {}) =>
  openTestCluster({ ids, shards: SHARDS, readStampLagMsMax: 3_600_000, ...options });

const read = (node: MultiRaft, shard: number, key: string) => {
  const entry = node.replica(shard).store.peek(key, Date.now());
  return entry ? new TextDecoder().decode(entry.value) : undefined;
};

describe("MultiRaft", () => {
  it("replicates writes to every replica and rejects proposals on followers with a hint", async () => {
    const { nodes } = await cluster();
    const leader = await leaderOf(nodes, 0);
    const result = await nodes.get(leader)!.propose(0, setOp("k", "v1"));
    expect(result).toMatchObject({ type: "set", result: { ok: true } });
    const follower = ids.find((id) => id !== leader)!;
    await expect(nodes.get(follower)!.propose(0, setOp("k", "v2"))).rejects.toMatchObject({ name: "NotLeaderError", leaderId: leader });
    // A follower's strong read asks the leader for the read index, then waits to apply it.
    await nodes.get(follower)!.readBarrier(0);
    expect(read(nodes.get(follower)!, 0, "k")).toBe("v1");
    const digests = () => ids.map((id) => nodes.get(id)!.replica(0).digest());
    const deadline = Date.now() + 2000;
    while (new Set(digests()).size !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(new Set(digests()).size).toBe(1);
  });

  it("elects a new leader when the old one is cut off, and the old one serves no strong read", async () => {
    const { nodes, isolate, heal } = await cluster();
    const old = await leaderOf(nodes, 1);
    await nodes.get(old)!.propose(1, setOp("x", "before"));
    isolate(old);
    const next = await leaderOf(nodes, 1, old);
    await nodes.get(next)!.propose(1, setOp("x", "after"));
    // The cut-off leader cannot confirm leadership, so its strong read must fail, not return "before".
    await expect(nodes.get(old)!.readBarrier(1)).rejects.toBeInstanceOf(NotLeaderError);
    heal();
    // Once it hears from the new leader, the old one serves strong reads again.
    for (let attempt = 0; ; attempt++) {
      try {
        await nodes.get(old)!.readBarrier(1);
        break;
      } catch (err) {
        if (!(err instanceof NotLeaderError) || attempt > 200) throw err;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    expect(read(nodes.get(old)!, 1, "x")).toBe("after");
  });

  it("batches a cycle's writes across groups into one append", async () => {
    const { nodes, groupLogs } = await cluster();
    const leaders = await Promise.all(Array.from({ length: SHARDS }, (_, s) => leaderOf(nodes, s)));
    const before = [...groupLogs.values()].reduce((a, l) => a + l.appends, 0);
    await Promise.all(Array.from({ length: 200 }, (_, i) => nodes.get(leaders[i % SHARDS]!)!.propose(i % SHARDS, setOp(`k${i}`, "v"))));
    const appends = [...groupLogs.values()].reduce((a, l) => a + l.appends, 0) - before;
    expect(appends).toBeLessThan(200);
  });

  it("compacts logs behind snapshots and catches a cut-off follower up with one", async () => {
    const { nodes, isolate, heal, groupLogs } = await cluster({ snapshotEntries: 20 });
    const leader = await leaderOf(nodes, 0);
    const lagging = ids.find((id) => id !== leader)!;
    await nodes.get(leader)!.propose(0, setOp("early", "1"));
    isolate(lagging);
    const laggingLast = groupLogs.get(lagging)!.storage(0, []).lastIndex();
    // Leadership may move while the follower is away; write through whoever leads.
    for (let i = 0; i < 120; i++) {
      const current = await leaderOf(nodes, 0, lagging);
      await nodes.get(current)!.propose(0, setOp(`k${i % 30}`, `v${i}`));
    }
    const current = await leaderOf(nodes, 0, lagging);
    // The leader's log no longer holds what the follower needs next.
    expect(groupLogs.get(current)!.storage(0, []).firstIndex()).toBeGreaterThan(laggingLast + 1);
    heal();
    const digests = () => ids.map((id) => nodes.get(id)!.replica(0).digest());
    const deadline = Date.now() + 5000;
    while (new Set(digests()).size !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(new Set(digests()).size).toBe(1);
    expect(nodes.get(lagging)!.snapshots.stats.installed).toBeGreaterThanOrEqual(1);
    expect(read(nodes.get(lagging)!, 0, "k29")).toBe("v119");
    expect(read(nodes.get(lagging)!, 0, "early")).toBe("1");
  });
});

describe("ReadIndex contexts", () => {
  const SHARD = 2;
  const nonce = (byte: number) => new Uint8Array(16).fill(byte);

  /** A cluster whose leader's ReadIndex answers to followers are held back, for the test to deliver. */
  async function holdingAnswers() {
    const held: { from: string; to: string; message: ReadIndexResponseMessage }[] = [];
    const c = await cluster({
      filter: (from, to, messages) =>
        messages.filter(({ group, message }) => {
          if (group !== SHARD || message.type !== "readIndexResp") return true;
          held.push({ from, to, message });
          return false;
        }),
    });
    const leader = await leaderOf(c.nodes, SHARD);
    const follower = ids.find((id) => id !== leader)!;
    await c.nodes.get(leader)!.propose(SHARD, setOp("k", "v"));
    expect(await c.nodes.get(follower)!.awaitLeader(SHARD, 2000)).toBe(true);
    return { ...c, held, leader, follower };
  }

  async function eventually(check: () => boolean): Promise<void> {
    const deadline = Date.now() + 3000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error("condition not reached in time");
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Starts a strong read, retrying while the node still looks for its leader. */
  async function startRead(node: () => MultiRaft) {
    for (let attempt = 0; ; attempt++) {
      const state = { settled: false, failed: undefined as unknown };
      const read = node().readBarrier(SHARD);
      const outcome = read.then(
        () => void (state.settled = true),
        (err: unknown) => void (state.failed = err),
      );
      await new Promise((r) => setTimeout(r, 1));
      if (!(state.failed instanceof NotLeaderError) || attempt > 200) return { state, outcome };
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  const answer = (node: MultiRaft, leader: string, message: ReadIndexResponseMessage) => node.receive(leader, encodePeerBatch([{ group: SHARD, message }]));

  it("a short, foreign or malformed context in a leader's answer settles no read and throws nothing", async () => {
    const { nodes, held, leader, follower, fatal } = await holdingAnswers();
    const node = nodes.get(follower)!;
    const { state, outcome } = await startRead(() => node);
    await eventually(() => held.length === 1);
    const genuine = held[0]!.message;
    const float64 = new Uint8Array(8);
    new DataView(float64.buffer).setFloat64(0, 1);
    const forged = [
      new Uint8Array([1, 2, 3]),
      float64,
      new ReadContexts(leader, nonce(7), SHARD).create().context,
      new ReadContexts(follower, nonce(7), SHARD + 1).create().context,
      new Uint8Array([...genuine.context, 0]),
      genuine.context.subarray(0, genuine.context.length - 1),
    ];
    for (const context of forged) answer(node, leader, { ...genuine, context });
    await new Promise((r) => setTimeout(r, 200));
    expect(fatal).toEqual([]);
    expect(state).toEqual({ settled: false, failed: undefined });
    answer(node, leader, genuine);
    await outcome;
    expect(state.settled).toBe(true);
  });

  it("an answer to the node's previous incarnation settles no read of the new one", async () => {
    const { nodes, held, leader, follower, fatal, restart } = await holdingAnswers();
    const first = await startRead(() => nodes.get(follower)!);
    await eventually(() => held.length === 1);
    const stale = held[0]!.message;
    // The node restarts before the answer reaches it; its read counter starts again.
    await restart(follower, { incarnation: nonce(2) });
    await first.outcome;
    expect(first.state.failed).toBeInstanceOf(NotLeaderError);
    expect(await nodes.get(follower)!.awaitLeader(SHARD, 2000)).toBe(true);
    const second = await startRead(() => nodes.get(follower)!);
    await eventually(() => held.length === 2);
    const fresh = held[1]!.message;
    // Delivered in the current term, so only the context can tell it is stale.
    answer(nodes.get(follower)!, leader, { ...stale, term: fresh.term });
    await new Promise((r) => setTimeout(r, 200));
    expect(fatal).toEqual([]);
    expect(second.state).toEqual({ settled: false, failed: undefined });
    answer(nodes.get(follower)!, leader, fresh);
    await second.outcome;
    expect(second.state.failed).toBeUndefined();
    expect(second.state.settled).toBe(true);
  });
});
