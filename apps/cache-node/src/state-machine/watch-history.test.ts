import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { comparePositions, EVENT_OVERHEAD_BYTES, ORDINAL_WHOLE, WatchHistory, type ChangeEvent, type Position } from "./watch-history.js";

/** A log of entries, each producing 0..3 events, with values of random sizes. */
const logEvents = fc.array(fc.array(fc.nat(300), { maxLength: 3 }), { maxLength: 80 }).map((entries) =>
  entries.flatMap((sizes, i) =>
    sizes.map((size, ordinal): ChangeEvent => ({
      index: i + 1,
      ordinal,
      kind: "put",
      key: `k${i}`,
      entry: { value: new Uint8Array(size), text: false, version: i + 1, expireAtMs: 0 },
    })),
  ),
);

describe("WatchHistory", () => {
  it("holds exactly the events after its floor, within both bounds, and answers every resume point", () => {
    fc.assert(
      fc.property(logEvents, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 4000 }), (all, eventsMax, bytesMax) => {
        const history = new WatchHistory({ eventsMax, bytesMax });
        for (const event of all) history.append(event);
        const held = history.after(history.floor, Number.MAX_SAFE_INTEGER);
        expect(held).not.toBe("compacted");
        expect(held).toEqual(all.filter((e) => comparePositions(e, history.floor) > 0));
        expect(history.size).toBeLessThanOrEqual(eventsMax);
        expect(history.sizeBytes).toBeLessThanOrEqual(Math.max(bytesMax, 0));
        // The newest event is kept whenever it fits the byte bound alone.
        const last = all.at(-1);
        if (last && EVENT_OVERHEAD_BYTES + last.key.length + last.entry!.value.length <= bytesMax) expect(history.size).toBeGreaterThan(0);
        for (const from of [{ index: 0, ordinal: ORDINAL_WHOLE }, ...all, ...all.map((e) => ({ index: e.index, ordinal: ORDINAL_WHOLE }))]) {
          const answer = history.after(from, Number.MAX_SAFE_INTEGER);
          if (comparePositions(from, history.floor) < 0) expect(answer).toBe("compacted");
          else expect(answer).toEqual(all.filter((e) => comparePositions(e, from) > 0));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("answers at most `limit` events, oldest first", () => {
    const history = new WatchHistory({ eventsMax: 10, bytesMax: 1 << 20 });
    for (let i = 1; i <= 5; i++) history.append({ index: i, ordinal: 0, kind: "delete", key: "k" });
    expect((history.after({ index: 1, ordinal: 0 }, 2) as ChangeEvent[]).map((e) => e.index)).toEqual([2, 3]);
  });

  it("after a reset (a snapshot installed at index 9) is compacted before it and empty after it", () => {
    const history = new WatchHistory({ eventsMax: 10, bytesMax: 1 << 20 });
    history.append({ index: 3, ordinal: 0, kind: "delete", key: "k" });
    history.reset(9);
    const at = (index: number, ordinal = ORDINAL_WHOLE): Position => ({ index, ordinal });
    expect(history.after(at(8), 10)).toBe("compacted");
    expect(history.after(at(9, 0), 10)).toBe("compacted");
    expect(history.after(at(9), 10)).toEqual([]);
    expect(history.floor).toEqual(at(9));
  });

  it("keeps a long run bounded in memory: the dropped prefix is released", () => {
    const history = new WatchHistory({ eventsMax: 100, bytesMax: 1 << 20 });
    for (let i = 1; i <= 100_000; i++) history.append({ index: i, ordinal: 0, kind: "delete", key: "k" });
    expect(history.size).toBe(100);
    expect((history as unknown as { events: unknown[] }).events.length).toBeLessThan(2200);
    expect(history.floor).toEqual({ index: 99_900, ordinal: 0 });
  });

  it("calls beforeDrop once before dropping events not yet offered (a burst), and not for events offered already", () => {
    const history = new WatchHistory({ eventsMax: 10, bytesMax: 1 << 20 });
    const offered: number[] = [];
    history.beforeDrop = () => {
      // A watcher reads everything held, then the events are marked offered.
      offered.push((history.after(history.floor, 100) as ChangeEvent[]).length);
      history.markRead();
    };
    for (let i = 1; i <= 10; i++) history.append({ index: 1, ordinal: i, kind: "delete", key: "k" });
    history.append({ index: 1, ordinal: 11, kind: "delete", key: "k" });
    expect(offered).toEqual([11]);
    history.markRead();
    for (let i = 12; i <= 20; i++) history.append({ index: 1, ordinal: i, kind: "delete", key: "k" });
    // Dropping offered events needs no call; the first unoffered one dropped calls again.
    expect(offered).toEqual([11]);
    history.append({ index: 1, ordinal: 21, kind: "delete", key: "k" });
    history.append({ index: 1, ordinal: 22, kind: "delete", key: "k" });
    expect(offered).toEqual([11, 11]);
  });

  it("reads a position at index 0, whatever its ordinal, as the start of the log", () => {
    const history = new WatchHistory({ eventsMax: 10, bytesMax: 1 << 20 });
    history.append({ index: 1, ordinal: 0, kind: "delete", key: "k" });
    expect((history.after({ index: 0, ordinal: 0 }, 10) as ChangeEvent[]).map((e) => e.index)).toEqual([1]);
  });
});
