import { create, toBinary } from "@bufbuild/protobuf";
import { CommandSchema, IncrOpSchema, MSetOpSchema, SetOpSchema } from "@distcache/proto/raft";
import { Store } from "@distcache/store";
import { describe, expect, it } from "vitest";
import { NOOP_SWEEP_ROUNDS_MAX, ShardStateMachine } from "./shard-state-machine.js";

const options = { entriesMax: 100, bytesMax: 1 << 20 };
const set = (key: string, text: string, stampMs: number, ttlMs = 0n) =>
  toBinary(
    CommandSchema,
    create(CommandSchema, {
      stampMs: BigInt(stampMs),
      op: { case: "set", value: create(SetOpSchema, { key, value: new TextEncoder().encode(text), text: true, ttlMs }) },
    }),
  );

describe("ShardStateMachine values", () => {
  // An entry arrives inside a larger buffer (a peer frame with many entries, a block of the log read at start).
  const inFrame = (command: Uint8Array, frameBytes: number) => {
    const frame = new Uint8Array(frameBytes);
    frame.set(command, 1000);
    return frame.subarray(1000, 1000 + command.length);
  };

  it("stores a value in a buffer of its own, not in a view of the entry's frame", () => {
    const m = new ShardStateMachine(0, new Store(options));
    m.apply(1, inFrame(set("k", "small", 1000), 256 * 1024));
    const stored = m.store.peek("k", 1000)!;
    expect(new TextDecoder().decode(stored.value)).toBe("small");
    expect(stored.value.buffer.byteLength).toBe(5);
  });

  it("stores each value of an MSet in a buffer of its own", () => {
    const items = ["a", "b"].map((key) => create(SetOpSchema, { key, value: new TextEncoder().encode(`value of ${key}`), text: true }));
    const command = toBinary(CommandSchema, create(CommandSchema, { stampMs: 1000n, op: { case: "mset", value: create(MSetOpSchema, { items }) } }));
    const m = new ShardStateMachine(0, new Store(options));
    m.apply(1, inFrame(command, 64 * 1024));
    for (const key of ["a", "b"]) expect(m.store.peek(key, 1000)!.value.buffer.byteLength).toBe(`value of ${key}`.length);
  });
});

describe("ShardStateMachine expiry sweeps", () => {
  const noop = (stampMs: number, sweepRounds: number) =>
    toBinary(CommandSchema, create(CommandSchema, { stampMs: BigInt(stampMs), op: { case: "noop", value: { sweepRounds } } }));
  const expiredAfter = (sweepRounds: number) => {
    const m = new ShardStateMachine(0, new Store({ entriesMax: 10_000, bytesMax: 1 << 24 }));
    for (let i = 1; i <= 2000; i++) m.apply(i, set(`k${i}`, "v", 1000, 100n));
    const expired: string[] = [];
    m.store.observe((change) => void (change.kind === "expire" && expired.push(change.key)));
    m.apply(2001, noop(5000, sweepRounds));
    return expired.length;
  };

  it("runs one sweep step (20 keys) for any entry, and as many as a noop asks", () => {
    expect(expiredAfter(0)).toBe(20);
    expect(expiredAfter(1)).toBe(20);
    expect(expiredAfter(3)).toBe(60);
  });

  it("bounds a noop's sweep at NOOP_SWEEP_ROUNDS_MAX steps, whatever the entry asks", () => {
    expect(expiredAfter(NOOP_SWEEP_ROUNDS_MAX)).toBe(NOOP_SWEEP_ROUNDS_MAX * 20);
    expect(expiredAfter(2 ** 32 - 1)).toBe(NOOP_SWEEP_ROUNDS_MAX * 20);
  });
});

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
    expect(() => m.restore([new Uint8Array([0xc3, 9])])).toThrow(/not a state machine snapshot/);
  });
});

const incr = (stampMs: number, session: string, sequence: number, acked = 0) =>
  toBinary(
    CommandSchema,
    create(CommandSchema, {
      stampMs: BigInt(stampMs),
      sessionId: session,
      sequence: BigInt(sequence),
      ackedSequence: BigInt(acked),
      op: { case: "incr", value: create(IncrOpSchema, { key: "n", delta: 1n }) },
    }),
  );

describe("ShardStateMachine sessions", () => {
  it("applies a retried write once and answers it with the first result", () => {
    const m = new ShardStateMachine(0, new Store(options));
    expect(m.apply(1, incr(1000, "s", 1))).toMatchObject({ type: "incr", result: { value: 1n } });
    expect(m.apply(2, incr(1001, "s", 1))).toMatchObject({ type: "incr", result: { value: 1n } });
    expect(m.apply(3, incr(1002, "s", 2))).toMatchObject({ type: "incr", result: { value: 2n } });
    // Another session, same sequence numbers: independent.
    expect(m.apply(4, incr(1003, "t", 1))).toMatchObject({ type: "incr", result: { value: 3n } });
    // Once the client acknowledged 1 and 2, a late duplicate of 1 is refused, not applied.
    expect(m.apply(5, incr(1004, "s", 3, 2))).toMatchObject({ type: "incr", result: { value: 4n } });
    expect(m.apply(6, incr(1005, "s", 1, 0))).toEqual({ type: "refused", reason: "forgotten" });
    expect(m.store.peek("n", 2000)?.value).toEqual(new TextEncoder().encode("4"));
  });

  it("forgets idle sessions by stamps, and keeps sessions in snapshots and digests", () => {
    const a = new ShardStateMachine(0, new Store(options));
    a.apply(1, incr(1000, "old", 1));
    a.apply(2, incr(1000 + 11 * 60_000, "new", 1));
    // "old" idled past the limit: a late retry of its applied write is refused, never applied twice.
    expect(a.apply(3, incr(1000 + 11 * 60_000, "old", 1))).toEqual({ type: "refused", reason: "expired", startedAfterMs: 0 });
    expect(a.store.peek("n", 1000 + 11 * 60_000)?.value).toEqual(new TextEncoder().encode("2"));
    const b = new ShardStateMachine(0, new Store(options));
    b.restore([...a.snapshot().chunks()]);
    expect(b.digest()).toBe(a.digest());
    // The tombstone survives the snapshot: the restored replica refuses the same retry.
    expect(b.apply(4, incr(1000 + 11 * 60_000, "old", 1))).toEqual({ type: "refused", reason: "expired", startedAfterMs: 0 });
    expect(a.apply(4, incr(1000 + 11 * 60_000, "old", 1))).toEqual({ type: "refused", reason: "expired", startedAfterMs: 0 });
    // A sequence above the forgotten session's high-water mark was never applied: it revives the session.
    expect(b.apply(5, incr(1000 + 11 * 60_000, "old", 2, 1))).toMatchObject({ type: "incr", result: { value: 3n } });
    expect(a.apply(5, incr(1000 + 11 * 60_000, "old", 2, 1))).toMatchObject({ type: "incr", result: { value: 3n } });
    expect(b.apply(6, incr(1000 + 11 * 60_000, "new", 1))).toMatchObject({ type: "incr", result: { value: 2n } });
    expect(a.apply(6, incr(1000 + 11 * 60_000, "new", 1))).toMatchObject({ type: "incr", result: { value: 2n } });
    expect(b.digest()).toBe(a.digest());
  });
});
