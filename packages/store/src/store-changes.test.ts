import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Entry } from "./entry.js";
import { Store, type StoreChange } from "./store.js";
import { START_MS, applyOperation, operations, storeConfig } from "./testing/store-operations.js";

// The change stream is what watchers see: replaying it onto an empty map must give exactly
// the entries the store holds, after every operation, and each kind must match its cause.
describe("Store change stream", () => {
  it("replays to exactly the stored entries, with counts that match the store's counters", () => {
    fc.assert(
      fc.property(storeConfig, operations, (config, ops) => {
        const store = new Store(config);
        const changes: StoreChange[] = [];
        store.observe((change) => changes.push(change));
        const replayed = new Map<string, Entry>();
        let nowMs = START_MS;
        for (const op of ops) {
          nowMs += op.advanceMs;
          const before = changes.length;
          applyOperation(store, op, nowMs);
          for (const change of changes.slice(before)) {
            if (change.kind === "put") replayed.set(change.key, change.entry);
            else {
              expect(replayed.has(change.key)).toBe(true);
              replayed.delete(change.key);
            }
            if (change.kind === "delete") expect(op.kind).toBe("delete");
          }
          expect(new Map(store.orderedEntries().map((e) => [e.key, e.entry]))).toEqual(replayed);
        }
        const count = (kind: StoreChange["kind"]) => changes.filter((c) => c.kind === kind).length;
        expect(count("evict")).toBe(store.stats().evictions);
        expect(count("expire")).toBeLessThanOrEqual(store.stats().expirations);
      }),
      { numRuns: 300 },
    );
  });

  it("names each cause: a put then the evictions it forced, an expiry met by a write, a delete; reads produce nothing", () => {
    const store = new Store({ entriesMax: 2, policy: "fifo" });
    const changes: StoreChange[] = [];
    store.observe((change) => changes.push(change));
    const bytes = new TextEncoder().encode("v");
    store.set("a", bytes, { expireAtMs: 1_010 }, 1_000);
    store.set("b", bytes, {}, 1_000);
    store.set("c", bytes, {}, 1_001);
    expect(changes.map((c) => `${c.kind}:${c.key}`)).toEqual(["put:a", "put:b", "put:c", "evict:a"]);
    changes.length = 0;
    store.set("d", bytes, { expireAtMs: 1_020 }, 1_002);
    store.get("d", 1_030);
    store.peek("d", 1_030);
    expect(changes.map((c) => `${c.kind}:${c.key}`)).toEqual(["put:d", "evict:b"]);
    changes.length = 0;
    store.delete("d", 1_030);
    store.delete("c", 1_030);
    expect(changes.map((c) => `${c.kind}:${c.key}`)).toEqual(["expire:d", "delete:c"]);
    store.observe(undefined);
    store.set("e", bytes, {}, 1_031);
    expect(changes).toHaveLength(2);
  });
});
