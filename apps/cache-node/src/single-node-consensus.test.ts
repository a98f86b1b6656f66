import { create } from "@bufbuild/protobuf";
import { AccessHintsSchema, DeleteOpSchema, IncrOpSchema, MSetOpSchema, NoopSchema, SetOpSchema } from "@distcache/proto/raft";
import { Store } from "@distcache/store";
import fc from "fast-check";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeRecords } from "./command-log.js";
import type { CommandOp } from "./consensus-port.js";
import { ShardStateMachine } from "./shard-state-machine.js";
import { SingleNodeConsensus } from "./single-node-consensus.js";

const SHARDS = 3;
const STORE = { policy: "lru" as const, entriesMax: 8, bytesMax: 4096 };
const key = fc.constantFrom("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k");

const op: fc.Arbitrary<CommandOp> = fc.oneof(
  fc
    .record({ key, text: fc.string({ maxLength: 40 }), ttlMs: fc.constantFrom(0, 0, 5, 50, 500) })
    .map(({ key, text, ttlMs }) => ({ case: "set" as const, value: create(SetOpSchema, { key, value: new TextEncoder().encode(text), text: true, ttlMs }) })),
  key.map((k) => ({ case: "delete" as const, value: create(DeleteOpSchema, { key: k }) })),
  fc.record({ key, delta: fc.bigInt({ min: -100n, max: 100n }) }).map((v) => ({ case: "incr" as const, value: create(IncrOpSchema, v) })),
  fc.array(key, { maxLength: 4 }).map((keys) => ({ case: "access" as const, value: create(AccessHintsSchema, { keys }) })),
  fc
    .array(key, { minLength: 1, maxLength: 3 })
    .map((keys) => ({ case: "mset" as const, value: create(MSetOpSchema, { items: keys.map((k) => create(SetOpSchema, { key: k, value: new Uint8Array(20) })) }) })),
  fc.constant({ case: "noop" as const, value: create(NoopSchema) }),
);

describe("single-node consensus", () => {
  it("replaying the command log into fresh stores gives identical digests", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(SHARDS - 1), op, fc.nat(30)), { minLength: 1, maxLength: 60 }), async (steps) => {
        const dir = mkdtempSync(join(tmpdir(), "distcache-replay-"));
        try {
          let now = 1_700_000_000_000;
          const clock = { nowMs: () => now };
          const { consensus } = await SingleNodeConsensus.open({ nodeId: "t", dataDir: dir, shards: SHARDS, store: STORE, clock });
          for (const [shard, o, advanceMs] of steps) {
            now += advanceMs;
            await consensus.propose(shard, o).catch(() => undefined);
          }
          const digests = Array.from({ length: SHARDS }, (_, s) => consensus.replica(s).digest());
          await consensus.close();

          // The same log, applied by hand to fresh state machines.
          const { records } = decodeRecords(readFileSync(join(dir, "commands.log")));
          const fresh = Array.from({ length: SHARDS }, (_, s) => new ShardStateMachine(s, new Store(STORE)));
          for (const r of records) fresh[r.shard]!.apply(r.index, r.command);
          expect(fresh.map((m) => m.digest())).toEqual(digests);

          // And a node reopened on the data dir.
          const reopened = await SingleNodeConsensus.open({ nodeId: "t", dataDir: dir, shards: SHARDS, store: STORE, clock });
          expect(Array.from({ length: SHARDS }, (_, s) => reopened.consensus.replica(s).digest())).toEqual(digests);
          await reopened.consensus.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 60 },
    );
  });

  it("stamps never go backwards when the clock does", async () => {
    const dir = mkdtempSync(join(tmpdir(), "distcache-stamp-"));
    try {
      let now = 10_000;
      const { consensus } = await SingleNodeConsensus.open({ nodeId: "t", dataDir: dir, shards: 1, store: STORE, clock: { nowMs: () => now } });
      await consensus.propose(0, { case: "noop", value: create(NoopSchema) });
      now = 5_000;
      await consensus.propose(0, { case: "noop", value: create(NoopSchema) });
      expect(consensus.replica(0).lastStampMs).toBe(10_000);
      await consensus.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a log written with more shards", async () => {
    const dir = mkdtempSync(join(tmpdir(), "distcache-shards-"));
    try {
      const { consensus } = await SingleNodeConsensus.open({ nodeId: "t", dataDir: dir, shards: 4, store: STORE });
      await consensus.propose(3, { case: "noop", value: create(NoopSchema) });
      await consensus.close();
      await expect(SingleNodeConsensus.open({ nodeId: "t", dataDir: dir, shards: 2, store: STORE })).rejects.toThrow(/--shards/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
