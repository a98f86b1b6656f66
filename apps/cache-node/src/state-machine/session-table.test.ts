import { describe, expect, it } from "vitest";
import { compactResult, SESSION_START_AHEAD_MS_MAX, SessionTable } from "./session-table.js";
import type { CommandResult } from "./shard-state-machine.js";

const result = (n: number) => ({ type: "mdelete" as const, deleted: n });

describe("SessionTable", () => {
  it("evicts the least recently used session when full", () => {
    const t = new SessionTable({ sessionsMax: 2, sessionIdleMsMax: 1e9, resultsPerSessionMax: 10, tombstonesMax: 10 });
    t.begin("a", 1, 0, 0, 1);
    t.record("a", 1, result(1));
    t.begin("b", 1, 0, 0, 2);
    t.begin("a", 2, 0, 0, 3); // a is now the most recently used
    t.begin("c", 1, 0, 0, 4); // evicts b
    expect(t.size).toBe(2);
    expect(t.begin("a", 1, 0, 0, 5)).toEqual({ kind: "done", result: result(1) });
    expect(t.begin("b", 1, 0, 0, 6)).toEqual({ kind: "new" });
  });

  it("bounds the results a session keeps", () => {
    const t = new SessionTable({ sessionsMax: 10, sessionIdleMsMax: 1e9, resultsPerSessionMax: 2, tombstonesMax: 10 });
    for (const seq of [1, 2]) {
      expect(t.begin("s", seq, 0, 0, seq).kind).toBe("new");
      t.record("s", seq, result(seq));
    }
    expect(t.begin("s", 3, 0, 0, 3)).toEqual({ kind: "too-many" });
    expect(t.begin("s", 3, 2, 0, 4)).toEqual({ kind: "new" });
  });

  it("refuses a late retry of a write whose session was evicted, instead of applying it twice", () => {
    const t = new SessionTable({ sessionsMax: 1, sessionIdleMsMax: 1e9, resultsPerSessionMax: 10, tombstonesMax: 2 });
    expect(t.begin("a", 1, 0, 0, 1)).toEqual({ kind: "new" });
    t.record("a", 1, result(1));
    expect(t.begin("a", 2, 0, 0, 2)).toEqual({ kind: "new" });
    t.record("a", 2, result(2));
    expect(t.begin("b", 1, 0, 0, 3)).toEqual({ kind: "new" }); // evicts a, high-water mark 2
    expect(t.tombstoneCount).toBe(1);
    expect(t.begin("a", 1, 0, 0, 4)).toEqual({ kind: "expired", startedAfterMs: 0 });
    expect(t.begin("a", 2, 1, 0, 5)).toEqual({ kind: "expired", startedAfterMs: 0 });
    // Above the mark nothing was applied: the session comes back, with 1 and 2 forgotten.
    expect(t.begin("a", 3, 0, 0, 6)).toEqual({ kind: "new" });
    expect(t.tombstoneCount).toBe(1); // a's tombstone is gone, b's was made
    expect(t.begin("a", 2, 0, 0, 7)).toEqual({ kind: "forgotten" });
  });

  it("refuses a late retry even after its session's tombstone is gone, by the floor of forgotten sessions", () => {
    // A flood of new sessions pushes the victim out of the table and its tombstone out of the tombstones.
    const t = new SessionTable({ sessionsMax: 2, sessionIdleMsMax: 1e9, resultsPerSessionMax: 10, tombstonesMax: 2 });
    expect(t.begin("victim", 1, 0, 1_000, 1_000)).toEqual({ kind: "new" });
    t.record("victim", 1, result(1));
    for (let i = 0; i < 10; i++) t.begin(`flood${i}`, 1, 0, 2_000 + i, 2_000 + i);
    expect(t.tombstoneCount).toBe(2);
    expect(t.floorMs).toBeGreaterThanOrEqual(1_000);
    // The victim's late retry: the table knows nothing of it, but it began before the floor.
    expect(t.begin("victim", 1, 0, 1_000, 3_000)).toEqual({ kind: "expired", startedAfterMs: t.floorMs });
    // A session that began after the floor is new; one that claims a start far ahead is refused.
    expect(t.begin("fresh", 1, 0, t.floorMs + 1, 3_001)).toEqual({ kind: "new" });
    expect(t.begin("ahead", 1, 0, 3_002 + SESSION_START_AHEAD_MS_MAX + 1, 3_002)).toEqual({ kind: "ahead" });
  });

  it("raises the floor to a forgotten session's start when its client's clock was ahead", () => {
    const t = new SessionTable({ sessionsMax: 1, sessionIdleMsMax: 1e9, resultsPerSessionMax: 10, tombstonesMax: 1 });
    t.begin("fast-clock", 1, 0, 50_000, 1_000); // began "later" than the shard's time
    t.record("fast-clock", 1, result(1));
    t.begin("a", 1, 0, 1_001, 1_001); // fast-clock becomes a tombstone
    t.begin("b", 1, 0, 1_002, 1_002); // a becomes a tombstone, fast-clock's is dropped
    expect(t.floorMs).toBe(50_000);
    expect(t.begin("fast-clock", 1, 0, 50_000, 1_003)).toMatchObject({ kind: "expired" });
  });

  it("keeps the floor and start times in snapshots and digests", () => {
    const t = new SessionTable({ sessionsMax: 1, sessionIdleMsMax: 1e9, resultsPerSessionMax: 10, tombstonesMax: 1 });
    for (const [i, id] of ["a", "b", "c"].entries()) t.begin(id, 1, 0, 100 + i, 100 + i);
    const copy = SessionTable.restorer(t.limits);
    for (const text of t.chunks()) copy.push(text);
    const restored = copy.finish();
    expect(restored.floorMs).toBe(t.floorMs);
    expect(restored.floorMs).toBeGreaterThan(0);
    expect(restored.digest()).toBe(t.digest());
    const other = new SessionTable(t.limits);
    for (const [i, id] of ["a", "b", "c"].entries()) other.begin(id, 1, 0, 200 + i, 100 + i);
    expect(other.digest()).not.toBe(t.digest());
  });

  it("keeps at most tombstonesMax tombstones, the oldest going first", () => {
    const t = new SessionTable({ sessionsMax: 1, sessionIdleMsMax: 1e9, resultsPerSessionMax: 10, tombstonesMax: 2 });
    for (const [i, id] of ["a", "b", "c", "d"].entries()) {
      t.begin(id, 1, 0, 0, i);
      t.record(id, 1, result(i));
    }
    expect(t.tombstoneCount).toBe(2); // b and c; a's mark is gone
    expect(t.begin("b", 1, 0, 0, 10)).toEqual({ kind: "expired", startedAfterMs: 0 });
    expect(t.begin("c", 1, 0, 0, 11)).toEqual({ kind: "expired", startedAfterMs: 0 });
  });

  it("forgets idle sessions into tombstones, and snapshots keep them", () => {
    const t = new SessionTable({ sessionsMax: 10, sessionIdleMsMax: 100, resultsPerSessionMax: 10, tombstonesMax: 10 });
    t.begin("a", 5, 4, 0, 0);
    t.record("a", 5, result(5));
    t.begin("b", 1, 0, 0, 500); // a idled out
    const copy = roundTrip(t);
    expect(copy.digest()).toBe(t.digest());
    expect(copy.begin("a", 5, 4, 0, 501)).toEqual({ kind: "expired", startedAfterMs: 0 });
    expect(copy.begin("a", 6, 5, 0, 502)).toEqual({ kind: "new" });
  });

  it("reads the earlier serialized form, a bare array of sessions", () => {
    const copy = SessionTable.deserialize(JSON.stringify([["s", 100, 3, [[7, result(7)]]]]));
    expect(copy.begin("s", 7, 3, 0, 101)).toEqual({ kind: "done", result: result(7) });
    expect(copy.tombstoneCount).toBe(0);
  });

  it("serializes and restores exactly, bigints included", () => {
    const t = new SessionTable();
    t.begin("s", 7, 3, 0, 100);
    t.record("s", 7, { type: "incr", result: { ok: true, value: -(2n ** 63n), version: 9 } });
    const copy = roundTrip(t);
    expect(copy.digest()).toBe(t.digest());
    expect(copy.begin("s", 7, 3, 0, 101)).toEqual({ kind: "done", result: { type: "incr", result: { ok: true, value: -(2n ** 63n), version: 9 } } });
  });

  it("writes a large table in chunks, splitting a session's results between them, and restores it exactly", () => {
    const t = big();
    const texts = [...t.chunks(2000)];
    expect(texts.length).toBeGreaterThan(10);
    for (const text of texts) expect(text.length).toBeLessThan(2000 + 200);
    const restorer = SessionTable.restorer(t.limits);
    for (const text of texts) restorer.push(text);
    const copy = restorer.finish();
    expect(copy.digest()).toBe(t.digest());
    expect(copy.size).toBe(t.size);
    expect(copy.tombstoneCount).toBe(t.tombstoneCount);
    // Every kept result is still found, in both copies alike.
    for (let session = 0; session < 20; session++) {
      for (const sequence of [1, 37, 80]) expect(copy.begin(`s${session}`, sequence, 0, 0, 10_000)).toEqual(t.begin(`s${session}`, sequence, 0, 0, 10_000));
    }
    expect(copy.digest()).toBe(t.digest());
  });

  it("yields one chunk for an empty table, and restores it", () => {
    const t = new SessionTable();
    const texts = [...t.chunks()];
    expect(texts).toEqual(['{"sessions":[],"tombstones":[],"floorMs":0}']);
    expect(SessionTable.deserialize(texts[0]!).digest()).toBe(t.digest());
  });

  it("hashes in steps of any size to the same digest, which differs when the table does", () => {
    const t = big();
    const whole = t.digest();
    for (const piecesPerStep of [1, 7, 1000]) {
      const steps = t.digestSteps(piecesPerStep);
      let yields = 0;
      let next = steps.next();
      while (next.done !== true) {
        yields++;
        next = steps.next();
      }
      expect(next.value).toBe(whole);
      if (piecesPerStep === 1) expect(yields).toBeGreaterThan(1000);
    }
    t.begin("s3", 200, 0, 0, 10_000);
    t.record("s3", 200, result(1));
    expect(t.digest()).not.toBe(whole);
  });

  it("reads a format-3 table (one text, results with evicted keys) and keeps its results compact", () => {
    const evicting: CommandResult = { type: "set", result: { ok: true, version: 5, evicted: ["old-1", "old-2"] } as never };
    const text = JSON.stringify({
      sessions: [
        [
          "s",
          100,
          3,
          [
            [4, evicting],
            [5, { type: "incr", result: { ok: true, value: { bigint: "12" }, version: 6, evicted: ["old-3"] } }],
          ],
          5,
        ],
      ],
      tombstones: [["gone", 9]],
    });
    const copy = SessionTable.deserialize(text);
    expect(copy.begin("s", 4, 3, 0, 101)).toEqual({ kind: "done", result: { type: "set", result: { ok: true, version: 5 } } });
    expect(copy.begin("s", 5, 3, 0, 102)).toEqual({ kind: "done", result: { type: "incr", result: { ok: true, value: 12n, version: 6 } } });
    expect(copy.begin("gone", 9, 0, 0, 103)).toEqual({ kind: "expired", startedAfterMs: 0 });
    // The same table recorded with compact results has the same digest.
    const fresh = new SessionTable();
    fresh.begin("s", 4, 3, 0, 100);
    fresh.record("s", 4, { type: "set", result: { ok: true, version: 5 } });
    fresh.begin("s", 5, 3, 0, 100);
    fresh.record("s", 5, { type: "incr", result: { ok: true, value: 12n, version: 6 } });
    const again = SessionTable.deserialize(text);
    const restored = SessionTable.restorer();
    for (const chunk of again.chunks()) restored.push(chunk);
    expect(roundTrip(fresh).begin("s", 4, 3, 0, 101)).toEqual(again.begin("s", 4, 3, 0, 101));
    expect(compactResult(evicting)).toEqual({ type: "set", result: { ok: true, version: 5 } });
    expect(compactResult({ type: "set", result: { ok: false, reason: "exists", currentVersion: 2 } })).toEqual({
      type: "set",
      result: { ok: false, reason: "exists", currentVersion: 2 },
    });
  });
});

/** 20 sessions of 100 results each (the first acknowledged), and 5 tombstones. */
function big(): SessionTable {
  const t = new SessionTable({ sessionsMax: 20, sessionIdleMsMax: 1e9, resultsPerSessionMax: 200, tombstonesMax: 10 });
  for (let session = 0; session < 25; session++) {
    for (let sequence = 1; sequence <= 100; sequence++) {
      t.begin(`s${session}`, sequence, 0, 0, session * 100 + sequence);
      t.record(`s${session}`, sequence, sequence % 2 === 0 ? result(sequence) : { type: "mset", versions: [sequence, sequence + 1, 2 ** 53 - 1] });
    }
  }
  return t;
}

function roundTrip(t: SessionTable): SessionTable {
  const restorer = SessionTable.restorer(t.limits);
  for (const text of t.chunks()) restorer.push(text);
  return restorer.finish();
}
