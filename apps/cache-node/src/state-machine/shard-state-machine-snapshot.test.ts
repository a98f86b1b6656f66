import { create, toBinary } from "@bufbuild/protobuf";
import { CommandSchema, IncrOpSchema, MSetOpSchema, SetOpSchema } from "@distcache/proto/raft";
import { Store } from "@distcache/store";
import { describe, expect, it } from "vitest";
import { ShardStateMachine, SNAPSHOT_CHUNK_BYTES_MAX } from "./shard-state-machine.js";

const options = { entriesMax: 10_000, bytesMax: 1 << 24 };
const encoder = new TextEncoder();

function command(
  stampMs: number,
  op: Parameters<typeof create<typeof CommandSchema>>[1] extends infer I ? (I extends { op?: infer O } ? O : never) : never,
  session?: { id: string; sequence: number; acked?: number },
): Uint8Array {
  return toBinary(
    CommandSchema,
    create(CommandSchema, {
      stampMs: BigInt(stampMs),
      sessionId: session?.id ?? "",
      sequence: BigInt(session?.sequence ?? 0),
      ackedSequence: BigInt(session?.acked ?? 0),
      op,
    }),
  );
}
const set = (key: string, value: Uint8Array | string) => ({
  case: "set" as const,
  value: create(SetOpSchema, { key, value: typeof value === "string" ? encoder.encode(value) : value, text: typeof value === "string" }),
});
const incr = (key: string, delta: bigint) => ({ case: "incr" as const, value: create(IncrOpSchema, { key, delta }) });

/** Writes under sessions: a few sessions with results, some acknowledged. */
function populated(sessions = 3, writes = 20): ShardStateMachine {
  const m = new ShardStateMachine(0, new Store(options));
  let index = 0;
  for (let i = 0; i < writes; i++) {
    for (let s = 0; s < sessions; s++) {
      const op = i % 3 === 0 ? incr(`c${s}`, BigInt(i)) : set(`k${s}-${i % 7}`, `v${i}`);
      m.apply(++index, command(1000 + index, op, { id: `session-${s}`, sequence: i + 1, acked: Math.max(0, i - 5) }));
    }
  }
  return m;
}

function restoreAll(chunks: Iterable<Uint8Array>): ShardStateMachine {
  const m = new ShardStateMachine(0, new Store(options));
  m.restore([...chunks]);
  return m;
}

function steppedDigest(m: ShardStateMachine, keysMax: number): string {
  const capture = m.digestCapture();
  while (!capture.step(keysMax));
  for (;;) {
    const digest = capture.hash();
    if (digest !== undefined) return digest;
  }
}

/** A replica snapshot's header in the formats before 4 (2: no refusal count; 3: with it). */
function oldHeader(format: 2 | 3, m: ShardStateMachine): Uint8Array {
  const header = new Uint8Array(format === 2 ? 17 : 25);
  const view = new DataView(header.buffer);
  view.setUint8(0, format);
  view.setFloat64(1, m.appliedIndex);
  view.setFloat64(9, m.lastStampMs);
  if (format === 3) view.setFloat64(17, 0);
  return header;
}

describe("replica snapshots, format 4", () => {
  it("restores to the same digest, and later writes keep them equal", () => {
    const a = populated();
    const b = restoreAll(a.snapshot().chunks());
    expect(b.digest()).toBe(a.digest());
    const next = command(9999, set("after", "x"), { id: "session-1", sequence: 21, acked: 19 });
    expect(b.apply(a.appliedIndex + 1, next)).toEqual(a.apply(a.appliedIndex + 1, next));
    expect(b.digest()).toBe(a.digest());
  });

  it("keeps no evicted keys in session results", () => {
    const m = new ShardStateMachine(0, new Store({ entriesMax: 2, bytesMax: 1 << 20 }));
    m.apply(1, command(1000, set("a", "1")));
    m.apply(2, command(1001, set("b", "2")));
    const result = m.apply(3, command(1002, set("c", "3"), { id: "s", sequence: 1 }));
    expect(result).toEqual({ type: "set", result: { ok: true, version: 3 } });
    expect(m.store.stats().evictions).toBe(1);
    // A retry finds the same compact result.
    expect(m.apply(4, command(1003, set("c", "3"), { id: "s", sequence: 1 }))).toEqual(result);
  });

  it("writes a large session table in several chunks, each within SNAPSHOT_CHUNK_BYTES_MAX", () => {
    // 12 sessions × 50 results of 200-item MSets: about 800 KB of session text.
    const m = new ShardStateMachine(0, new Store(options));
    let index = 0;
    const items = Array.from({ length: 200 }, (_, i) => create(SetOpSchema, { key: `m${i}`, value: encoder.encode("v") }));
    const mset = { case: "mset" as const, value: create(MSetOpSchema, { items }) };
    for (let s = 0; s < 12; s++) for (let q = 1; q <= 50; q++) m.apply(++index, command(1000, mset, { id: `session-${s}`, sequence: q }));
    const chunks = [...m.snapshot().chunks()];
    const header = new DataView(chunks[0]!.buffer, chunks[0]!.byteOffset, chunks[0]!.byteLength);
    expect(chunks[0]![0]).toBe(4);
    expect(header.getUint32(25)).toBeGreaterThan(2);
    for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(SNAPSHOT_CHUNK_BYTES_MAX);
    const copy = restoreAll(chunks);
    expect(copy.digest()).toBe(m.digest());
    expect(steppedDigest(copy, 1000)).toBe(m.digest());
  });

  it("computes the same digest in steps of any size as digest(), before and after a restore", () => {
    const a = populated(5, 40);
    for (const keysMax of [1, 3, 50, 1_000_000]) expect(steppedDigest(a, keysMax)).toBe(a.digest());
    const b = restoreAll(a.snapshot().chunks());
    expect(steppedDigest(b, 2)).toBe(a.digest());
  });

  it("refuses a digest capture across an applied entry", () => {
    const a = populated(4, 10);
    const capture = a.digestCapture();
    capture.step(1);
    a.apply(a.appliedIndex + 1, command(99_999, set("x", "y")));
    expect(() => capture.step(1)).toThrow(/applied during a digest capture/);
  });
});

describe("replica snapshots of earlier formats", () => {
  /** The machine's state written by hand as format 3 (or 2): one session text holding evicted keys, then the store's chunks. */
  function handBuilt(format: 2 | 3): { expected: ShardStateMachine; chunks: Uint8Array[] } {
    const expected = new ShardStateMachine(0, new Store({ entriesMax: 2, bytesMax: 1 << 20 }));
    expected.apply(1, command(1000, set("a", "1")));
    expected.apply(2, command(1001, set("b", "2")));
    expected.apply(3, command(1002, set("c", "3"), { id: "s", sequence: 1 })); // evicts a
    expected.apply(4, command(1003, incr("n", 5n), { id: "s", sequence: 2 })); // evicts b
    const results = [
      [1, { type: "set", result: { ok: true, version: 3, evicted: ["a"] } }],
      [2, { type: "incr", result: { ok: true, value: { bigint: "5" }, version: 4, evicted: ["b"] } }],
    ];
    const sessions = format === 3 ? { sessions: [["s", 1003, 0, results, 2]], tombstones: [] } : [["s", 1003, 0, results]];
    const chunks = [oldHeader(format, expected), encoder.encode(JSON.stringify(sessions)), ...expected.store.snapshot().chunks()];
    return { expected, chunks };
  }

  it("restores format 3 (one sessions chunk, results with evicted keys) to the digest of the same state", () => {
    const { expected, chunks } = handBuilt(3);
    const restored = restoreAll(chunks);
    expect(restored.digest()).toBe(expected.digest());
    expect(restored.apply(5, command(1004, incr("n", 5n), { id: "s", sequence: 2 }))).toEqual({ type: "incr", result: { ok: true, value: 5n, version: 4 } });
  });

  it("restores format 2 (17-byte header, a bare array of sessions)", () => {
    const { expected, chunks } = handBuilt(2);
    const restored = restoreAll(chunks);
    expect(restored.digest()).toBe(expected.digest());
    // Re-snapshotted, it is written as format 4.
    expect([...restored.snapshot().chunks()][0]![0]).toBe(4);
  });

  it("refuses a format-4 header without session chunks, and a truncated snapshot", () => {
    const a = populated(1, 2);
    const chunks = [...a.snapshot().chunks()];
    const header = chunks[0]!.slice();
    new DataView(header.buffer).setUint32(25, 0);
    expect(() => restoreAll([header, ...chunks.slice(1)])).toThrow(/without its session table/);
    expect(() => restoreAll(chunks.slice(0, 1))).toThrow(/ends before its store/);
  });
});
