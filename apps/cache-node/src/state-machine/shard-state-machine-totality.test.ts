import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import type { EvictionPolicy } from "@distcache/proto/raft";
import { CommandSchema, SetCondition } from "@distcache/proto/raft";
import { Store } from "@distcache/store";
import { describe, expect, it } from "vitest";
import { STAMP_MS_MAX } from "./command-validation.js";
import { ShardStateMachine, SnapshotFormatError } from "./shard-state-machine.js";

// Apply is total (invariant 8 of docs/design.md): each command below once reached an assertion in
// apply, which every replica would hit and every restart would replay.

type CommandInit = MessageInitShape<typeof CommandSchema>;

const text = (s: string) => new TextEncoder().encode(s);
const setOp = (init: Record<string, unknown>) => ({ case: "set" as const, value: { key: "k", value: text("v"), ...init } });

const POISON: [string, CommandInit][] = [
  ["an IF_VERSION above 2^53 - 1", { op: setOp({ condition: SetCondition.IF_VERSION, expectedVersion: 2n ** 53n + 1n }) }],
  ["an IF_VERSION of 2^64 - 1", { op: setOp({ condition: SetCondition.IF_VERSION, expectedVersion: 2n ** 64n - 1n }) }],
  ["an expected version without IF_VERSION", { op: setOp({ condition: SetCondition.IF_ABSENT, expectedVersion: 2n ** 60n }) }],
  ["an unknown condition", { op: setOp({ condition: 99 as SetCondition }) }],
  ["a TTL that overflows the stamp", { op: setOp({ ttlMs: 2n ** 62n }) }],
  ["a negative TTL", { op: setOp({ ttlMs: -1n }) }],
  ["a value above the shard's bytes_max", { op: setOp({ value: new Uint8Array(64 * 1024) }) }],
  ["an empty key", { op: setOp({ key: "" }) }],
  ["a sequence above 2^53 - 1", { sessionId: "s", sequence: 2n ** 53n + 1n, op: setOp({}) }],
  ["an acked sequence at the sequence", { sessionId: "s", sequence: 5n, ackedSequence: 5n, op: setOp({}) }],
  ["a sequence without a session", { sequence: 3n, op: setOp({}) }],
  ["a session id above 128 bytes", { sessionId: "x".repeat(200_000), sequence: 1n, op: setOp({}) }],
  ["a negative stamp", { stampMs: -5n, op: setOp({}) }],
  ["a stamp beyond the largest", { stampMs: BigInt(STAMP_MS_MAX) + 1n, op: setOp({}) }],
  ["an MSet naming a key twice", { op: { case: "mset", value: { items: [{ key: "a" }, { key: "b" }, { key: "a" }] } } }],
  ["an empty MSet", { op: { case: "mset", value: { items: [] } } }],
  ["an MSet whose third item is invalid", { op: { case: "mset", value: { items: [{ key: "a" }, { key: "b" }, { key: "c", ttlMs: -1n }] } } }],
  ["an MDelete naming a key twice", { op: { case: "mdelete", value: { keys: ["a", "a"] } } }],
  ["an incr whose counter cannot fit bytes_max", { op: { case: "incr", value: { key: "x".repeat(4000), delta: 1n } } }],
  ["an unknown eviction policy", { op: { case: "configure", value: { policy: 42 as EvictionPolicy } } }],
  ["eviction bounds above 2^53 - 1", { op: { case: "configure", value: { bytesMax: 2n ** 64n - 1n } } }],
];

/** A small store: 4 KiB per shard, so a 64 KiB value is above its bound. */
const small = () => new ShardStateMachine(0, new Store({ entriesMax: 100, bytesMax: 4096 }));
const encode = (init: CommandInit) => toBinary(CommandSchema, create(CommandSchema, { stampMs: 1000n, ...init }));

describe("ShardStateMachine apply is total", () => {
  it.each(POISON)("refuses %s on every replica and changes nothing", (_name, init) => {
    const [a, b] = [small(), small()];
    for (const m of [a, b]) m.apply(1, encode({ op: setOp({ key: "a", value: text("1") }) }));
    const before = a.store.digest();
    const results = [a, b].map((m) => m.apply(2, encode(init)));
    expect(results[0]).toMatchObject({ type: "refused", reason: "invalid", message: expect.any(String) });
    expect(results[1]).toEqual(results[0]);
    expect(a.store.digest()).toBe(before);
    expect(a.appliedIndex).toBe(2);
    expect(b.digest()).toBe(a.digest());
    // A replica restored from a snapshot agrees, refusal count included.
    const c = small();
    c.restore([...a.snapshot().chunks()]);
    expect(c.digest()).toBe(a.digest());
  });

  it("refuses bytes that are not a command", () => {
    const m = small();
    expect(m.apply(1, new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toMatchObject({ type: "refused", reason: "invalid" });
    expect(m.appliedIndex).toBe(1);
  });

  it("counts refusals in the digest, and changes nothing else", () => {
    const [a, b] = [small(), small()];
    a.apply(1, encode(POISON[0]![1]));
    b.skip(1);
    // Same index, stamp, store and sessions: only the refusal count tells them apart.
    expect(a.store.digest()).toBe(b.store.digest());
    expect(a.lastStampMs).toBe(b.lastStampMs);
    expect(a.digest()).not.toBe(b.digest());
  });

  it("records a refused write in its session, so a retry gets the same answer even after the settings change", () => {
    const m = small();
    // Too large for the shard's 4 KiB bound now...
    const bad = encode({ sessionId: "s", sequence: 1n, op: setOp({ value: new Uint8Array(8192) }) });
    const first = m.apply(1, bad);
    expect(first).toMatchObject({ type: "refused", reason: "invalid" });
    // ...but not after a larger bound: the retry still gets the first answer and applies nothing.
    m.apply(2, encode({ op: { case: "configure", value: { bytesMax: 1n << 20n } } }));
    expect(m.apply(3, bad)).toEqual(first);
    expect(m.store.peek("k", 1000)).toBeUndefined();
    // The session exists: its next write is applied normally.
    expect(m.apply(4, encode({ sessionId: "s", sequence: 2n, ackedSequence: 1n, op: setOp({ value: new Uint8Array(8192) }) }))).toMatchObject({
      type: "set",
      result: { ok: true },
    });
  });

  it("still applies the largest valid values", () => {
    const m = new ShardStateMachine(0, new Store({ entriesMax: 100, bytesMax: 1 << 20 }));
    const result = m.apply(1, encode({ stampMs: BigInt(STAMP_MS_MAX), op: setOp({ ttlMs: BigInt(100 * 365 * 24 * 3600 * 1000) }) }));
    expect(result).toMatchObject({ type: "set", result: { ok: true } });
    const version = m.apply(2, encode({ stampMs: BigInt(STAMP_MS_MAX), op: setOp({ condition: SetCondition.IF_VERSION, expectedVersion: 2n ** 53n - 1n }) }));
    expect(version).toMatchObject({ type: "set", result: { ok: false, reason: "version_mismatch" } });
  });
});

describe("ShardStateMachine restore refuses damaged snapshots", () => {
  const damaged = (edit: (chunks: Uint8Array[]) => void) => {
    const m = small();
    m.apply(1, encode({ sessionId: "s", sequence: 1n, op: setOp({}) }));
    const chunks = [...m.snapshot().chunks()].map((c) => c.slice());
    edit(chunks);
    return chunks;
  };

  it.each([
    ["a NaN stamp", (chunks: Uint8Array[]) => new DataView(chunks[0]!.buffer).setFloat64(9, Number.NaN)],
    ["a stamp of 1e300", (chunks: Uint8Array[]) => new DataView(chunks[0]!.buffer).setFloat64(9, 1e300)],
    ["a negative index", (chunks: Uint8Array[]) => new DataView(chunks[0]!.buffer).setFloat64(1, -1)],
    ["a fractional refusal count", (chunks: Uint8Array[]) => new DataView(chunks[0]!.buffer).setFloat64(17, 0.5)],
    ["a session row of the wrong shape", (chunks: Uint8Array[]) => (chunks[1] = text(JSON.stringify({ sessions: [["s", "x", 0, []]], tombstones: [] })))],
    ["a tombstone mark that is not a count", (chunks: Uint8Array[]) => (chunks[1] = text(JSON.stringify({ sessions: [], tombstones: [["s", 1e300]] })))],
  ])("refuses %s, and the replica keeps its state and applies on", (_name, edit) => {
    const m = small();
    m.apply(1, encode({ op: setOp({ key: "mine" }) }));
    const before = m.digest();
    expect(() => m.restore(damaged(edit))).toThrow();
    expect(m.digest()).toBe(before);
    expect(m.apply(2, encode({ op: { case: "noop", value: {} } }))).toEqual({ type: "none" });
  });

  it("restores the same chunks with a well-formed session table put in (the control for the cases above)", () => {
    const m = small();
    m.restore(damaged((chunks) => (chunks[1] = text(JSON.stringify({ sessions: [["t", 5, 0, []]], tombstones: [["u", 3]] })))));
    expect(m.appliedIndex).toBe(1);
  });
});

describe("ShardStateMachine snapshot formats", () => {
  it("refuses a snapshot of a later format by name, not as damage", () => {
    const m = small();
    m.apply(1, encode({ op: setOp({}) }));
    const chunks = [...m.snapshot().chunks()].map((c) => c.slice());
    chunks[0]![0] = 9;
    expect(() => small().restore(chunks)).toThrow(SnapshotFormatError);
    expect(() => small().restore(chunks)).toThrow(/format 9; this build writes format 4 and reads formats 2 to 4/);
  });
});
