import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Store } from "./store.js";
import { ReferenceStore } from "./testing/reference-store.js";
import { KEYS, START_MS, applyOperation, operations, storeConfig } from "./testing/store-operations.js";

// Each policy must evict exactly what its definition says: the reference model
// implements the definitions with arrays and linear scans, and after every operation
// both must agree on the result, the victims, the contents in eviction order, the
// counters and every visible read.
describe("Store against the reference model", () => {
  it("agrees on results, victims, order, frequencies and reads after every operation", () => {
    fc.assert(
      fc.property(storeConfig, operations, (config, ops) => {
        const store = new Store(config);
        const model = new ReferenceStore(config);
        let nowMs = START_MS;
        for (const op of ops) {
          nowMs += op.advanceMs;
          expect(applyOperation(store, op, nowMs)).toEqual(applyOperation(model, op, nowMs));
          expect(store.orderedEntries()).toEqual(model.dump());
          const stats = store.stats();
          expect([stats.evictions, stats.expirations, stats.keys, stats.bytes, store.revision]).toEqual([
            model.evictions,
            model.expirations,
            model.size,
            model.bytes(),
            model.revision,
          ]);
          for (const key of KEYS) expect(store.peek(key, nowMs)?.version).toBe(model.peek(key, nowMs)?.version);
          store.checkInvariants();
        }
      }),
      { numRuns: 400 },
    );
  });

  it("never exceeds entriesMax or bytesMax after any write", () => {
    fc.assert(
      fc.property(storeConfig, operations, (config, ops) => {
        const store = new Store(config);
        let nowMs = START_MS;
        for (const op of ops) {
          nowMs += op.advanceMs;
          applyOperation(store, op, nowMs);
          expect(store.size).toBeLessThanOrEqual(store.options.entriesMax);
          expect(store.stats().bytes).toBeLessThanOrEqual(store.options.bytesMax);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("never returns an expired entry from peek or get", () => {
    fc.assert(
      fc.property(storeConfig, operations, fc.integer({ min: 0, max: 60 }), (config, ops, laterMs) => {
        const store = new Store(config);
        let nowMs = START_MS;
        for (const op of ops) {
          nowMs += op.advanceMs;
          applyOperation(store, op, nowMs);
          for (const key of KEYS) {
            for (const readMs of [nowMs, nowMs + laterMs]) {
              const entry = store.get(key, readMs);
              expect(entry === undefined || entry.expireAtMs === 0 || entry.expireAtMs > readMs).toBe(true);
            }
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
