import { expect, it } from "vitest";
import type { GroupLogWrite } from "./group-log.js";
import { MemoryGroupLog } from "./testing/memory-group-log.js";
import { MultiRaft } from "./multi-raft.js";
import { setOp, testNodeOptions, until } from "./testing/multi-raft-harness.js";

/** A group log whose appends can be held until the test lets them finish (a slow sync). */
class HeldGroupLog extends MemoryGroupLog {
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  /** Appends in progress, waiting for release(). */
  waiting = 0;
  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }
  release(): void {
    this.gate = undefined;
    this.open?.();
  }
  override async append(batch: readonly GroupLogWrite[]): Promise<void> {
    const gate = this.gate;
    if (gate) {
      this.waiting++;
      await gate;
      this.waiting--;
    }
    return super.append(batch);
  }
}

/** Settles with what p settled with, or "pending" if it has not settled within ms. */
function within<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown } | "pending"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"pending">((resolve) => (timer = setTimeout(() => resolve("pending"), ms)));
  return Promise.race([
    p.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
    timeout,
  ]).finally(() => clearTimeout(timer));
}

it("close() resolves, and a waiting digest fails, when the driver sees the close between taking Readys and advancing them", async () => {
  const groupLog = new HeldGroupLog();
  const fatal: unknown[] = [];
  const node = await MultiRaft.open(
    testNodeOptions({
      nodeId: "n1",
      hostedShards: [0, 1].map((shard) => ({ shard, voters: ["n1"] })),
      shardCount: 2,
      groupLog,
      // Tiny: every few applied entries make a snapshot of the shard due.
      snapshotEntries: 2,
      transport: { send: () => true, backlogBytes: () => 0 },
      raftTickMs: 5,
      electionTimeoutTicks: 4,
      onFatal: (err) => fatal.push(err),
    }),
  );
  node.start();
  await until(() => node.ledShards().length === 2, "leadership of both shards", 2);
  for (let i = 0; i < 5; i++) await Promise.all([node.propose(0, setOp(`a${i}`, "v")), node.propose(1, setOp(`b${i}`, "v"))]);

  // A cycle takes both shards' Readys and waits on its append (a slow sync).
  groupLog.hold();
  const proposals = [node.propose(0, setOp("x", "1")), node.propose(1, setOp("y", "1"))];
  for (const p of proposals) p.catch(() => undefined);
  await until(() => groupLog.waiting === 1, "an append in progress", 2);
  // A digest waits for shard 0's Ready to be advanced; more proposals give both shards
  // another Ready, which the driver takes once the append finishes.
  const digest = node.digest(0);
  const more = [node.propose(0, setOp("x", "2")), node.propose(1, setOp("y", "2"))];
  for (const p of more) p.catch(() => undefined);
  await new Promise((r) => setTimeout(r, 10));
  const closing = node.close();
  groupLog.release();

  expect(await within(closing, 5000)).toEqual({ value: undefined });
  const digested = await within(digest, 5000);
  expect(digested).not.toBe("pending");
  expect(fatal).toEqual([]);
});
