import type { ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { comparePositions, ORDINAL_WHOLE, WatchHistory, type ChangeEvent, type Position } from "../state-machine/watch-history.js";
import { WatchHub } from "./watch-hub.js";
import { Watcher, type WatchMessage } from "./watcher.js";

const SHARD = 0;
const KEYS = ["a", "ab", "abc", "b", "ba", "c"];

/** A replica to watch: its history, and the index apply reached. */
class FakeReplica {
  appliedIndex = 0;
  constructor(readonly history: WatchHistory) {}

  /** Applies one entry that produced events for `keys`: like the state machine, the applied index moves once all are appended. */
  apply(keys: readonly string[]): void {
    const index = this.appliedIndex + 1;
    keys.forEach((key, ordinal) => this.history.append({ kind: "delete", key, index, ordinal } satisfies ChangeEvent));
    this.appliedIndex = index;
  }
}

interface Seen {
  watcher: Watcher;
  key: string;
  prefix: boolean;
  start: Position;
  events: string[];
  error?: ConnectError;
  open: boolean;
  /** Messages whose resume token claimed other events than those delivered up to it. */
  badTokens: string[];
}

function watch(hub: WatchHub, replica: FakeReplica, key: string, prefix: boolean, start: Position, all: readonly ChangeEvent[] = []): Seen {
  const seen: Omit<Seen, "watcher"> & Partial<Seen> = { key, prefix, start, events: [], open: true, badTokens: [] };
  seen.watcher = new Watcher(
    { key, prefix, withValues: false },
    new Map([[SHARD, start]]),
    [SHARD],
    () => replica,
    (m: WatchMessage) => {
      for (const e of m.events ?? []) seen.events.push(`${e.key}@${e.index}.${e.ordinal}`);
      // The token says what was delivered: exactly the matching events up to it.
      const token = m.resume?.find((p) => p.shard === SHARD);
      const upTo = { index: Number(token?.index ?? 0), ordinal: token?.ordinal ?? 0 };
      const claimed = expected(all, seen as Seen).filter((name) => comparePositions(positionOf(name), upTo) <= 0);
      if (claimed.join() !== seen.events.join()) seen.badTokens.push(`${JSON.stringify(upTo)}: ${claimed.join()} vs ${seen.events.join()}`);
    },
    (e) => (seen.error = e),
  );
  seen.watcher.room = () => seen.open;
  hub.add(seen.watcher);
  seen.watcher.pull(SHARD);
  return seen as Seen;
}

function positionOf(name: string): Position {
  const [index, ordinal] = name
    .slice(name.lastIndexOf("@") + 1)
    .split(".")
    .map(Number);
  return { index: index!, ordinal: ordinal! };
}

/** What a watcher must get: every event after its start that matches, in order, once. */
function expected(all: readonly ChangeEvent[], seen: Seen): string[] {
  return all
    .filter((e) => e.index > seen.start.index || (e.index === seen.start.index && e.ordinal > seen.start.ordinal && seen.start.ordinal !== ORDINAL_WHOLE))
    .filter((e) => (seen.prefix ? e.key.startsWith(seen.key) : e.key === seen.key))
    .map((e) => `${e.key}@${e.index}.${e.ordinal}`);
}

const step = fc.oneof(
  fc.record({ apply: fc.array(fc.constantFrom(...KEYS), { minLength: 0, maxLength: 4 }) }),
  fc.record({ watch: fc.record({ key: fc.constantFrom("", ...KEYS, "zz"), prefix: fc.boolean(), back: fc.nat(6) }) }),
  fc.record({ stall: fc.nat(7) }),
  fc.record({ drain: fc.nat(7) }),
  fc.constant({ flush: true as const }),
);

describe("ShardFan, through the hub", () => {
  it("gives every watcher each matching event after its start exactly once, in order, whether it reads with the shared scan or by itself", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60, size: "max" }), fc.integer({ min: 6, max: 200 }), async (steps, eventsMax) => {
        const replica = new FakeReplica(new WatchHistory({ eventsMax, bytesMax: 1 << 30 }));
        const all: ChangeEvent[] = [];
        replica.history.beforeDrop = undefined;
        const hub = new WatchHub((shard) => (shard === SHARD ? replica : undefined));
        const watchers: Seen[] = [];
        const flush = () => new Promise((r) => setImmediate(r));
        for (const s of steps) {
          if ("apply" in s) {
            const before = replica.appliedIndex;
            // Known before apply, so that a message sent during it (a burst) is judged too.
            s.apply.forEach((key, ordinal) => all.push({ kind: "delete", key, index: before + 1, ordinal }));
            replica.apply(s.apply);
            hub.changed(SHARD);
          } else if ("watch" in s) {
            const startIndex = Math.max(0, replica.appliedIndex - s.watch.back);
            const floor = replica.history.floor;
            const start = { index: startIndex, ordinal: ORDINAL_WHOLE };
            if (startIndex < floor.index || (startIndex === floor.index && floor.ordinal !== ORDINAL_WHOLE)) continue;
            watchers.push(watch(hub, replica, s.watch.key, s.watch.prefix, start, all));
          } else if ("stall" in s) {
            const w = watchers[s.stall % Math.max(1, watchers.length)];
            if (w) w.open = false;
          } else if ("drain" in s) {
            const w = watchers[s.drain % Math.max(1, watchers.length)];
            if (w) {
              w.open = true;
              w.watcher.resumeWaiting();
            }
          } else await flush();
        }
        for (const w of watchers) {
          w.open = true;
          w.watcher.resumeWaiting();
        }
        hub.changed(SHARD);
        await flush();
        for (const w of watchers) {
          expect(w.badTokens).toEqual([]);
          const want = expected(all, w);
          if (w.error) {
            // Dropped as compacted, never skipped: what it got is a beginning of what it should have.
            expect(w.error.code).toBe(11);
            expect(want.slice(0, w.events.length)).toEqual(w.events);
          } else {
            expect(w.events).toEqual(want);
            expect(w.watcher.cursorOf(SHARD)).toEqual({ index: replica.appliedIndex, ordinal: ORDINAL_WHOLE });
          }
        }
      }),
      { numRuns: Number(process.env["SHARD_FAN_RUNS"] ?? 2000) },
    );
  });

  it("scans once for all caught-up watchers: a prefix that matches nothing costs a lookup per event, not a test per watcher", async () => {
    const replica = new FakeReplica(new WatchHistory({ eventsMax: 1000, bytesMax: 1 << 30 }));
    const hub = new WatchHub(() => replica);
    const quiet = Array.from({ length: 50 }, (_, i) => watch(hub, replica, `nomatch-${i}/`, true, { index: 0, ordinal: ORDINAL_WHOLE }));
    const all = watch(hub, replica, "", true, { index: 0, ordinal: ORDINAL_WHOLE });
    hub.changed(SHARD);
    await new Promise((r) => setImmediate(r));
    // Once caught up, no watcher reads the history by itself.
    let ownReads = 0;
    for (const w of [...quiet, all]) {
      const pull = w.watcher.pull.bind(w.watcher);
      w.watcher.pull = (shard: number) => {
        ownReads++;
        return pull(shard);
      };
    }
    for (let i = 0; i < 20; i++) {
      replica.apply([`k${i}`]);
      hub.changed(SHARD);
      await new Promise((r) => setImmediate(r));
    }
    expect(ownReads).toBe(0);
    expect(all.events).toHaveLength(20);
    expect(quiet.every((w) => w.events.length === 0 && w.watcher.cursorOf(SHARD)?.index === 20)).toBe(true);
  });
});
