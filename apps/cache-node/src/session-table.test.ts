import { describe, expect, it } from "vitest";
import { SessionTable } from "./session-table.js";

const result = (n: number) => ({ type: "mdelete" as const, deleted: n });

describe("SessionTable", () => {
  it("evicts the least recently used session when full", () => {
    const t = new SessionTable({ sessionsMax: 2, sessionIdleMsMax: 1e9, resultsPerSessionMax: 10 });
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
    const t = new SessionTable({ sessionsMax: 10, sessionIdleMsMax: 1e9, resultsPerSessionMax: 2 });
    for (const seq of [1, 2]) {
      expect(t.begin("s", seq, 0, seq).kind).toBe("new");
      t.record("s", seq, result(seq));
    }
    expect(t.begin("s", 3, 0, 3)).toEqual({ kind: "too-many" });
    expect(t.begin("s", 3, 2, 4)).toEqual({ kind: "new" });
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
