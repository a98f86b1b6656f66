import { create } from "@bufbuild/protobuf";
import { SetOpSchema } from "@distcache/proto/raft";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { entrySizeBytes, type Storage } from "@distcache/raft";
import { MemoryWalFs } from "@distcache/raft/testing";
import { SnapshotFiles } from "@distcache/raft/snapshot";
import { systemClock } from "./clock.js";
import { MultiRaft } from "./multi-raft.js";
import { openWalGroupLog } from "./wal-group-log.js";

const WAL_DIR = "/n1/wal";
const silent = pino({ level: "silent" });
/** What the nodes under test logged at warn or above (a failed capture or save is only logged). */
const problems: string[] = [];
const watchful = pino({ level: "warn" }, { write: (line: string) => void problems.push(line) });

/**
 * A MemoryWalFs whose fdatasyncs wait until the test completes them, one at a time and
 * each on a later turn of the event loop, as a real disk's completions arrive. The test
 * decides when each driver cycle's append is durable, and never sleeps.
 */
class HeldSyncFs extends MemoryWalFs {
  hold = false;
  private readonly pending: (() => void)[] = [];

  override async openAppend(path: string): Promise<WalFile> {
    const file = await super.openAppend(path);
    return {
      append: (data: Uint8Array) => file.append(data),
      close: () => file.close(),
      datasync: async () => {
        if (this.hold) await new Promise<void>((resolve) => this.pending.push(resolve));
        await file.datasync();
      },
    };
  }

  /** Stops holding syncs and completes those waiting (before the node closes). */
  releaseAll(): void {
    this.hold = false;
    for (const resolve of this.pending.splice(0)) resolve();
  }

  /** Completes the oldest waiting sync on a later turn; throws if none is asked for within many turns. */
  async completeSync(): Promise<void> {
    for (let turns = 0; this.pending.length === 0; turns++) {
      if (turns > 10_000) throw new Error("no sync was asked for");
      await nextTurn();
    }
    await nextTurn();
    this.pending.shift()!();
  }

  /** Bytes of the log's segment files. */
  async walBytes(): Promise<number> {
    let sum = 0;
    for (const path of this.segmentPaths()) sum += (await this.readFile(path)).byteLength;
    return sum;
  }

  segmentPaths(): string[] {
    return this.paths().filter((p) => p.startsWith(`${WAL_DIR}/`));
  }
}

type WalFile = Awaited<ReturnType<MemoryWalFs["openAppend"]>>;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

const running: { raft: MultiRaft; fs: HeldSyncFs }[] = [];
afterEach(async () => {
  for (const { fs } of running) fs.releaseAll();
  await Promise.all(running.splice(0).map(({ raft }) => raft.close()));
  expect(problems.splice(0)).toEqual([]);
});

interface NodeOptions {
  shards: number;
  snapshotEntries: number;
  snapshotBytes?: number;
  segmentBytesMax?: number;
}

/** One node alone (every group has this node as its only voter) over a log on a HeldSyncFs. */
async function soloNode({ shards, snapshotEntries, snapshotBytes, segmentBytesMax }: NodeOptions) {
  const fs = new HeldSyncFs();
  const groupLog = await openWalGroupLog(WAL_DIR, silent, { fs, groupsMax: 4, segmentBytesMax: segmentBytesMax ?? 64 * 1024 * 1024 });
  const storages = new Map<number, Storage>();
  const raft = await MultiRaft.open({
    nodeId: "n1",
    hostedShards: Array.from({ length: shards }, (_, shard) => ({ shard, voters: ["n1"] })),
    shardCount: shards,
    preferredLeaders: Array.from({ length: shards }, () => "n1"),
    groupLog: {
      ...groupLog,
      storage: (group, voters) => {
        const storage = groupLog.storage(group, voters);
        storages.set(group, storage);
        return storage;
      },
    },
    snapshotFiles: new SnapshotFiles("/n1/snap", new MemoryWalFs()),
    snapshotEntries,
    ...(snapshotBytes === undefined ? {} : { snapshotBytes }),
    transport: { send: () => true, backlogBytes: () => 0 },
    clock: systemClock,
    logger: watchful,
    store: { entriesMax: 100_000, bytesMax: 1 << 30 },
    // Ticks play no part: the only voter campaigns at start.
    raftTickMs: 60_000,
    electionTimeoutTicks: 10,
    heartbeatIntervalTicks: 1,
    operationTimeoutMs: 60_000,
    entryBytesMax: 4 << 20,
    onFatal: (err) => {
      throw err;
    },
  });
  running.push({ raft, fs });
  fs.hold = true;
  raft.start();
  for (let i = 0; raft.ledShards().length < shards; i++) {
    if (i > 1000) throw new Error("the node did not elect itself");
    await fs.completeSync();
  }
  return { raft, fs, storages };
}

/** Keeps `inFlight` proposals to shard 0 outstanding: each one applied is replaced by another. */
function sustainedLoad(raft: MultiRaft, inFlight: number, valueBytes: number) {
  const state = { on: true, applied: 0, failed: [] as unknown[] };
  const value = new Uint8Array(valueBytes).fill(7);
  let next = 0;
  const one = (): void => {
    const key = `k${next++ % 50}`;
    raft.propose(0, { case: "set", value: create(SetOpSchema, { key, value }) }).then(
      () => {
        state.applied++;
        if (state.on) one();
      },
      (err: unknown) => state.failed.push(err),
    );
  };
  for (let i = 0; i < inFlight; i++) one();
  return state;
}

/** Bytes of the entries the group's storage holds (what compaction bounds). */
function logBytes(storage: Storage): number {
  const first = storage.firstIndex();
  const last = storage.lastIndex();
  if (last < first) return 0;
  return storage.entries(first, (last + 1) as typeof last, Number.MAX_SAFE_INTEGER).reduce((sum, e) => sum + entrySizeBytes(e), 0);
}

describe("snapshot scheduling under sustained load", () => {
  it("a due snapshot's capture starts within a few driver cycles, though the group always has a next Ready", async () => {
    const SNAPSHOT_ENTRIES = 40;
    const { raft, fs } = await soloNode({ shards: 2, snapshotEntries: SNAPSHOT_ENTRIES });
    const machine = raft.replica(0);
    // Each capture records how many driver cycles passed since its snapshot came due.
    const capture = machine.snapshotCapture.bind(machine);
    const load = sustainedLoad(raft, 16, 100);
    let dueAt: number | undefined;
    let snapshotIndex = 0;
    const waits: number[] = [];
    machine.snapshotCapture = () => {
      waits.push(raft.stats.cycles - (dueAt ?? raft.stats.cycles));
      dueAt = undefined;
      snapshotIndex = machine.appliedIndex;
      return capture();
    };
    for (let sync = 0; sync < 400; sync++) {
      await fs.completeSync();
      await nextTurn();
      if (dueAt === undefined && machine.appliedIndex - snapshotIndex >= SNAPSHOT_ENTRIES) dueAt = raft.stats.cycles;
    }
    load.on = false;
    expect(load.failed).toEqual([]);
    expect(load.applied).toBeGreaterThan(20 * SNAPSHOT_ENTRIES);
    // Every snapshot that came due started, each within a few cycles of coming due.
    expect(waits.length).toBeGreaterThanOrEqual(10);
    expect(Math.max(...waits)).toBeLessThanOrEqual(3);
    expect(dueAt).toBeUndefined();
  });

  it("snapshotBytes bounds a group's log to about twice it with large values, and the log's segments behind it are removed", async () => {
    const SNAPSHOT_BYTES = 64 * 1024;
    const VALUE_BYTES = 8 * 1024;
    const SEGMENT_BYTES = 32 * 1024;
    // Shard 1 is idle: its log holds only its leader's first entry, which must not pin the segments.
    const { raft, fs, storages } = await soloNode({ shards: 2, snapshotEntries: 1_000_000, snapshotBytes: SNAPSHOT_BYTES, segmentBytesMax: SEGMENT_BYTES });
    const storage = storages.get(0)!;
    const IN_FLIGHT = 2;
    const load = sustainedLoad(raft, IN_FLIGHT, VALUE_BYTES);
    let peakLog = 0;
    let peakWal = 0;
    for (let sync = 0; sync < 1200; sync++) {
      await fs.completeSync();
      peakLog = Math.max(peakLog, logBytes(storage));
      peakWal = Math.max(peakWal, await fs.walBytes());
    }
    load.on = false;
    expect(load.failed).toEqual([]);
    const written = load.applied * VALUE_BYTES;
    expect(written).toBeGreaterThan(100 * SNAPSHOT_BYTES);
    expect(raft.snapshots.stats.taken).toBeGreaterThan(written / SNAPSHOT_BYTES / 2);
    // Two snapshots' worth, each the threshold plus at most one Ready's entries, and the
    // entries in flight: entries are whole, so a threshold is passed by up to one Ready.
    const entryBytes = VALUE_BYTES + 64;
    expect(peakLog).toBeLessThan(2 * (SNAPSHOT_BYTES + IN_FLIGHT * entryBytes) + IN_FLIGHT * entryBytes);
    // The segments behind the compaction points are gone: the first ones (which also
    // held the idle shard's only entry) and all but the last few.
    const segments = fs.segmentPaths();
    expect(segments).not.toContain(`${WAL_DIR}/wal-0000000000000001.log`);
    // (One segment more than the log's peak: the log goes on growing while a capture defers applying.)
    expect(segments.length).toBeLessThanOrEqual(Math.ceil(peakLog / SEGMENT_BYTES) + 3);
    expect(await fs.walBytes()).toBeLessThan(peakLog + 2 * SEGMENT_BYTES);
    // Before the idle shard was snapshotted and compacted, the log grew to at most
    // about 2 × 4 thresholds (the quiet-group rule), never to everything written.
    expect(peakWal).toBeLessThan(12 * SNAPSHOT_BYTES);
    expect(raft.snapshots.stats.staleCompactions).toBe(1);
  });
});
