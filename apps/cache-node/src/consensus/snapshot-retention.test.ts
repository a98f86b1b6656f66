import { asNodeId, type Storage } from "@distcache/raft";
import { MemoryWalFs } from "@distcache/raft/testing";
import { SnapshotFiles } from "@distcache/raft/snapshot";
import pino from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MemoryGroupLog } from "./testing/memory-group-log.js";
import { ReplicaSnapshots } from "./replica-snapshots.js";
import type { ShardReplica } from "./shard-replica.js";

function snapshotsWith(files: SnapshotFiles, storage: Storage): ReplicaSnapshots {
  return new ReplicaSnapshots({
    self: asNodeId("n1"),
    files,
    groupLog: new MemoryGroupLog(),
    transport: { send: () => true, backlogBytes: () => 0 },
    logger: pino({ level: "silent" }),
    entriesBetween: 1000,
    bytesBetween: 1 << 20,
    replica: () => ({ storage }) as unknown as ShardReplica,
    deliver: () => undefined,
    schedule: () => undefined,
    onFatal: (err) => {
      throw err;
    },
  });
}

// Snapshot files are pruned against the floor of the durable log, not the in-memory one:
// a received snapshot moves the in-memory floor as soon as it is appended, before the
// append is synced, and a kill -9 in that window restarts from the older floor, whose
// file must still be there.

describe("snapshot pruning", () => {
  it("keeps the durable floor's file while the in-memory floor is ahead of it", async () => {
    const files = new SnapshotFiles("/n1/snap", new MemoryWalFs());
    for (const index of [10, 20]) await files.write({ group: 0, index, term: 1 }, [new Uint8Array([index])]);
    let memoryFloor = 10;
    const storage = { snapshot: () => ({ index: memoryFloor, term: 1 }) } as unknown as Storage;
    const snapshots = snapshotsWith(files, storage);
    // Record the durable floor the way a start does (restore reads the log's snapshot point).
    (snapshots as unknown as { durableFloor: Map<number, number> }).durableFloor.set(0, 10);
    // A snapshot at 30 was appended but is not durable yet; a prune queued earlier runs now.
    memoryFloor = 30;
    await (snapshots as unknown as { prune(group: number): Promise<void> }).prune(0);
    expect((await files.list(0)).map((f) => f.index).sort((a, b) => a - b)).toEqual([10, 20]);
    // Once the install is durable, the older files go.
    await files.write({ group: 0, index: 30, term: 1 }, [new Uint8Array([30])]);
    snapshots.installed(0, { index: 30, term: 1, confState: { voters: [], learners: [] } } as never);
    await snapshots.drain();
    expect((await files.list(0)).map((f) => f.index)).toEqual([30]);
    expect(snapshots.durableFloorOf(0)).toBe(30);
  });
});

describe("partial snapshot transfers", () => {
  afterEach(() => vi.useRealTimers());

  it("are dropped with their chunks once no chunk came for 30 s (the leader died mid-transfer)", () => {
    vi.useFakeTimers({ toFake: ["performance"] });
    const storage = { snapshot: () => ({ index: 0, term: 0 }) } as unknown as Storage;
    const snapshots = snapshotsWith(new SnapshotFiles("/n1/snap", new MemoryWalFs()), storage);
    const message = { type: "snapshot", from: "n2", to: "n1", term: 3, snapshot: { index: 50, term: 3, confState: { voters: [], learners: [] } } } as never;
    for (const from of ["n2", "n3"]) snapshots.accept(asNodeId(from), { group: 0, message, seq: 0, last: false, data: new Uint8Array(1024) });
    expect(snapshots.pendingTransfers.incoming).toBe(2);
    vi.advanceTimersByTime(20_000);
    snapshots.accept(asNodeId("n3"), { group: 0, message, seq: 1, last: false, data: new Uint8Array(1024) });
    vi.advanceTimersByTime(15_000);
    // n2's stopped 35 s ago, n3's 15 s ago.
    snapshots.sweepStale([]);
    expect(snapshots.pendingTransfers.incoming).toBe(1);
    vi.advanceTimersByTime(20_000);
    snapshots.sweepStale([]);
    expect(snapshots.pendingTransfers).toEqual({ incoming: 0, staged: 0 });
  });
});
