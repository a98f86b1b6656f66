import { create } from "@bufbuild/protobuf";
import { AccessHintsSchema, DeleteOpSchema, IncrOpSchema, MSetOpSchema, NoopSchema, SetOpSchema } from "@distcache/proto/raft";
import { asLogIndex } from "@distcache/raft";
import { NodeWal } from "@distcache/raft/wal";
import { SnapshotFiles } from "@distcache/raft/snapshot";
import { Store } from "@distcache/store";
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { CommandOp } from "./consensus-port.js";
import { ShardStateMachine } from "../state-machine/shard-state-machine.js";
import type { Clock } from "./clock.js";
import { MultiRaft } from "./multi-raft.js";
import { openWalGroupLog } from "./wal-group-log.js";

const SHARDS = 3;
const STORE = { policy: "lru" as const, entriesMax: 8, bytesMax: 4096 };
const key = fc.constantFrom("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k");
const logger = pino({ level: "silent" });

const op: fc.Arbitrary<CommandOp> = fc.oneof(
  fc
    .record({ key, text: fc.string({ maxLength: 40 }), ttlMs: fc.constantFrom(0n, 0n, 5n, 50n, 500n) })
    .map(({ key, text, ttlMs }) => ({ case: "set" as const, value: create(SetOpSchema, { key, value: new TextEncoder().encode(text), text: true, ttlMs }) })),
  key.map((k) => ({ case: "delete" as const, value: create(DeleteOpSchema, { key: k }) })),
  fc.record({ key, delta: fc.bigInt({ min: -100n, max: 100n }) }).map((v) => ({ case: "incr" as const, value: create(IncrOpSchema, v) })),
  fc.array(key, { maxLength: 4 }).map((keys) => ({ case: "access" as const, value: create(AccessHintsSchema, { keys }) })),
  fc.array(key, { minLength: 1, maxLength: 3 }).map((keys) => ({
    case: "mset" as const,
    value: create(MSetOpSchema, { items: keys.map((k) => create(SetOpSchema, { key: k, value: new Uint8Array(20) })) }),
  })),
  fc.constant({ case: "noop" as const, value: create(NoopSchema) }),
);

async function standalone(dir: string, clock: Clock, snapshotEntries: number): Promise<MultiRaft> {
  const node = await MultiRaft.open({
    nodeId: "solo",
    hostedShards: Array.from({ length: SHARDS }, (_, shard) => ({ shard, voters: ["solo"] })),
    shardCount: SHARDS,
    preferredLeaders: Array.from({ length: SHARDS }, () => "solo"),
    groupLog: await openWalGroupLog(join(dir, "wal"), logger),
    snapshotFiles: new SnapshotFiles(join(dir, "snap")),
    snapshotEntries,
    transport: { send: () => false, backlogBytes: () => 0 },
    clock,
    logger,
    store: STORE,
    raftTickMs: 5,
    electionTimeoutTicks: 10,
    heartbeatIntervalTicks: 1,
    operationTimeoutMs: 5000,
    entryBytesMax: 1 << 20,
    onFatal: (err) => {
      throw err;
    },
  });
  node.start();
  while (node.ledShards().length < SHARDS) await new Promise((r) => setTimeout(r, 2));
  return node;
}

describe.each([
  { snapshots: "no snapshots", snapshotEntries: 1_000_000 },
  { snapshots: "a snapshot every 2 entries", snapshotEntries: 2 },
])("standalone node log replay ($snapshots)", ({ snapshotEntries }) => {
  it("the last snapshot plus the write-ahead log after it, applied to fresh stores, give identical digests", async () => {
    let compacted = 0;
    let snapshotted = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(SHARDS - 1), op, fc.nat(30)), { minLength: 1, maxLength: 60 }), async (steps) => {
        const dir = mkdtempSync(join(tmpdir(), "distcache-replay-"));
        try {
          let now = 1_700_000_000_000;
          const clock = { nowMs: () => now, monotonicMs: () => now };
          const node = await standalone(dir, clock, snapshotEntries);
          for (const [shard, o, advanceMs] of steps) {
            now += advanceMs;
            await node.propose(shard, o);
          }
          const digests = Array.from({ length: SHARDS }, (_, s) => node.replica(s).digest());
          await node.close();

          // The snapshot the log was compacted to and the log after it, applied by hand to fresh state machines.
          const wal = await NodeWal.open(join(dir, "wal"));
          const files = new SnapshotFiles(join(dir, "snap"));
          const fresh: string[] = [];
          for (let s = 0; s < SHARDS; s++) {
            const machine = new ShardStateMachine(s, new Store(STORE));
            const storage = wal.storage(s);
            const snapshot = storage.snapshot();
            if ((await files.list(s)).length > 0) snapshotted++;
            if (snapshot.index > 0) {
              compacted++;
              machine.restore(await files.read({ group: s, index: snapshot.index, term: snapshot.term }));
              expect(machine.appliedIndex).toBe(snapshot.index);
            }
            for (const e of storage.entries(storage.firstIndex(), asLogIndex(storage.lastIndex() + 1), Number.MAX_SAFE_INTEGER)) {
              if (e.kind === "noop") machine.skip(e.index);
              else machine.apply(e.index, e.data, e.term);
            }
            fresh.push(machine.digest());
          }
          await wal.close();
          expect(fresh).toEqual(digests);

          // And a node restarted on the data dir.
          const reopened = await standalone(dir, clock, snapshotEntries);
          // Waits for the replay only: a strong read would append a time entry to stale shards.
          await reopened.recovered();
          const after = Array.from({ length: SHARDS }, (_, s) => reopened.replica(s));
          // The restarted leader appended one empty entry of its new term per shard.
          expect(after.map((m) => m.digest().split(":").slice(1).join(":"))).toEqual(digests.map((d) => d.split(":").slice(1).join(":")));
          await reopened.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 25 },
    );
    // A restart restores the newest snapshot file; the log is compacted only up to the one
    // before it, which these short runs reach now and then (multi-raft.test.ts checks compaction).
    if (snapshotEntries < 100) expect(snapshotted).toBeGreaterThan(25);
    else expect(compacted + snapshotted).toBe(0);
  });
});
