import { describe, expect, it } from "vitest";
import { SessionTable } from "./session-table.js";

const result = (n: number) => ({ type: "mdelete" as const, deleted: n });

describe("SessionTable", () => {
  it("evicts the least recently used session when full", () => {
    const t = new SessionTable({ sessionsMax: 2, sessionIdleMsMax: 1e9, resultsPerSessionMax: 10, tombstonesMax: 10 });
    t.begin("a", 1, 0, 1);
    t.record("a", 1, result(1));
    t.begin("b", 1, 0, 2);
    t.begin("a", 2, 0, 3); // a is now the most recently used
    t.begin("c", 1, 0, 4); // evicts b
    expect(t.size).toBe(2);
    expect(t.begin("a", 1, 0, 5)).toEqual({ kind: "done", result: result(1) });
    expect(t.begin("b", 1, 0, 6)).toEqual({ kind: "new" });
  });

  it("bounds the results a session keeps", () => {
    const t = new SessionTable({ sessionsMax: 10, sessionIdleMsMax: 1e9, resultsPerSessionMax: 2, tombstonesMax: 10 });
    for (const seq of [1, 2]) {
      expect(t.begin("s", seq, 0, seq).kind).toBe("new");
      t.record("s", seq, result(seq));
    }
    expect(t.begin("s", 3, 0, 3)).toEqual({ kind: "too-many" });
    expect(t.begin("s", 3, 2, 4)).toEqual({ kind: "new" });
  });

  it("refuses a late retry of a write whose session was evicted, instead of applying it twice", () => {
    const t = new SessionTable({ sessionsMax: 1, sessionIdleMsMax: 1e9, resultsPerSessionMax: 10, tombstonesMax: 2 });
    expect(t.begin("a", 1, 0, 1)).toEqual({ kind: "new" });
    t.record("a", 1, result(1));
    expect(t.begin("a", 2, 0, 2)).toEqual({ kind: "new" });
    t.record("a", 2, result(2));
    expect(t.begin("b", 1, 0, 3)).toEqual({ kind: "new" }); // evicts a, high-water mark 2
    expect(t.tombstoneCount).toBe(1);
    expect(t.begin("a", 1, 0, 4)).toEqual({ kind: "expired" });
    expect(t.begin("a", 2, 1, 5)).toEqual({ kind: "expired" });
    // Above the mark nothing was applied: the session comes back, with 1 and 2 forgotten.
    expect(t.begin("a", 3, 0, 6)).toEqual({ kind: "new" });
    expect(t.tombstoneCount).toBe(1); // a's tombstone is gone, b's was made
    expect(t.begin("a", 2, 0, 7)).toEqual({ kind: "forgotten" });
  });

  it("keeps at most tombstonesMax tombstones, the oldest going first", () => {
    const t = new SessionTable({ sessionsMax: 1, sessionIdleMsMax: 1e9, resultsPerSessionMax: 10, tombstonesMax: 2 });
    for (const [i, id] of ["a", "b", "c", "d"].entries()) {
      t.begin(id, 1, 0, i);
      t.record(id, 1, result(i));
    }
    expect(t.tombstoneCount).toBe(2); // b and c; a's mark is gone
    expect(t.begin("b", 1, 0, 10)).toEqual({ kind: "expired" });
    expect(t.begin("c", 1, 0, 11)).toEqual({ kind: "expired" });
  });

  it("forgets idle sessions into tombstones, and snapshots keep them", () => {
    const t = new SessionTable({ sessionsMax: 10, sessionIdleMsMax: 100, resultsPerSessionMax: 10, tombstonesMax: 10 });
    t.begin("a", 5, 4, 0);
    t.record("a", 5, result(5));
    t.begin("b", 1, 0, 500); // a idled out
    const copy = SessionTable.deserialize(t.serialize(), t.limits);
    expect(copy.serialize()).toBe(t.serialize());
    expect(copy.begin("a", 5, 4, 501)).toEqual({ kind: "expired" });
    expect(copy.begin("a", 6, 5, 502)).toEqual({ kind: "new" });
  });

  it("reads the earlier serialized form, a bare array of sessions", () => {
    const copy = SessionTable.deserialize(JSON.stringify([["s", 100, 3, [[7, result(7)]]]]));
    expect(copy.begin("s", 7, 3, 101)).toEqual({ kind: "done", result: result(7) });
    expect(copy.tombstoneCount).toBe(0);
  });

  it("serializes and restores exactly, bigints included", () => {
    const t = new SessionTable();
    t.begin("s", 7, 3, 100);
    t.record("s", 7, { type: "incr", result: { ok: true, value: -(2n ** 63n), version: 9, evicted: ["x"] } });
    const copy = SessionTable.deserialize(t.serialize());
    expect(copy.serialize()).toBe(t.serialize());
    expect(copy.begin("s", 7, 3, 101)).toEqual({ kind: "done", result: { type: "incr", result: { ok: true, value: -(2n ** 63n), version: 9, evicted: ["x"] } } });
  });
});
