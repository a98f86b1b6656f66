import { create, toBinary } from "@bufbuild/protobuf";
import { CommandSchema, SetOpSchema } from "@distcache/proto/raft";
import { Store } from "@distcache/store";
import { describe, expect, it } from "vitest";
import { ShardStateMachine } from "./shard-state-machine.js";

const options = { entriesMax: 100, bytesMax: 1 << 20 };
const set = (key: string, text: string, stampMs: number, ttlMs = 0n) =>
  toBinary(
    CommandSchema,
    create(CommandSchema, { stampMs: BigInt(stampMs), op: { case: "set", value: create(SetOpSchema, { key, value: new TextEncoder().encode(text), text: true, ttlMs }) } }),
  );

describe("ShardStateMachine snapshots", () => {
  it("restores to the same digest and then evolves identically", () => {
    const a = new ShardStateMachine(0, new Store(options));
    for (let i = 1; i <= 50; i++) a.apply(i, set(`k${i % 17}`, `v${i}`, 1000 + i, i % 3 === 0 ? 500n : 0n));
    const snapshot = a.snapshot();
    const chunks = [...snapshot.chunks()];
    // Writes after the snapshot was taken do not leak into it.
    a.apply(51, set("late", "x", 2000));
    const b = new ShardStateMachine(0, new Store(options));
    b.restore(chunks);
    expect(b.appliedIndex).toBe(50);
    b.apply(51, set("late", "x", 2000));
    expect(b.digest()).toBe(a.digest());
    a.apply(52, set("k1", "again", 3000));
    b.apply(52, set("k1", "again", 3000));
    expect(b.digest()).toBe(a.digest());
  });

  it("refuses a snapshot that is not one", () => {
    const m = new ShardStateMachine(0, new Store(options));
    expect(() => m.restore([new Uint8Array([9, 9])])).toThrow(/not a state machine snapshot/);
  });
});
