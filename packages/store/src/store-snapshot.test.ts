import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SNAPSHOT_FORMAT_VERSION } from "./snapshot-format.js";
import { StoreSnapshotError } from "./store-snapshot-error.js";
import { Store } from "./store.js";
import { applyAll, operations, storeConfig } from "./testing/store-operations.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function sampleStore(): Store {
  const store = new Store({ policy: "lfu", entriesMax: 50, lfuHalvingIntervalAccesses: 7, seed: 5 });
  for (let index = 0; index < 40; index++) {
    store.set(`key-${index % 23}`, bytes(`value ${index}`), { text: index % 2 === 0, expireAtMs: index % 3 === 0 ? 2_000 + index : 0 }, 1_000 + index);
    store.touch([`key-${index % 5}`], 1_000 + index);
  }
  return store;
}

describe("snapshot and restore", () => {
  it("round-trips exactly: digest, order, frequencies, counters, and later behaviour", () => {
    fc.assert(
      fc.property(storeConfig, operations, operations, fc.integer({ min: 1, max: 5 }), (config, prefix, suffix, chunkEntriesMax) => {
        const original = new Store(config);
        const { nowMs } = applyAll(original, prefix);
        const digestAtSnapshot = original.digest();
        const orderAtSnapshot = original.orderedEntries();
        const snapshot = original.snapshot(chunkEntriesMax);
        // Writes between snapshot() and consuming its chunks must not leak into it.
        const twin = new Store(config);
        applyAll(twin, prefix);
        const afterSuffix = applyAll(original, suffix, nowMs);

        const restored = Store.restore(snapshot.chunks());
        expect(restored.digest()).toBe(digestAtSnapshot);
        expect(restored.orderedEntries()).toEqual(orderAtSnapshot);
        expect(restored.revision).toBe(twin.revision);
        expect(snapshot.entryCount).toBe(orderAtSnapshot.length);
        restored.checkInvariants();

        // Identical later operations give identical results and evictions.
        expect(applyAll(restored, suffix, nowMs)).toEqual(afterSuffix);
        expect(restored.digest()).toBe(original.digest());
        applyAll(twin, suffix, nowMs);
        expect(twin.digest()).toBe(original.digest());
      }),
      { numRuns: 250 },
    );
  });

  it("can be consumed more than once and yields header, entry chunks and trailer", () => {
    const store = sampleStore();
    const snapshot = store.snapshot(4);
    const first = [...snapshot.chunks()];
    const second = [...snapshot.chunks()];
    expect(second).toEqual(first);
    expect(first.length).toBe(2 + Math.ceil(store.size / 4));
    expect(first.every((chunk) => chunk[0] === SNAPSHOT_FORMAT_VERSION)).toBe(true);
  });

  it("does not depend on chunk size", () => {
    const store = sampleStore();
    const digests = [1, 3, 1024].map((size) => Store.restore(store.snapshot(size).chunks()).digest());
    expect(new Set(digests)).toEqual(new Set([store.digest()]));
    expect(Store.restore(store.snapshot(1024, 40).chunks()).digest()).toBe(store.digest());
  });

  it("closes a chunk before an entry that would take it past chunkBytesTarget", () => {
    const store = new Store();
    for (let index = 0; index < 10; index++) store.set(`k${index}`, new Uint8Array(1000), {}, 1_000);
    const chunks = [...store.snapshot(1024, 2500).chunks()];
    expect(chunks.length).toBe(2 + 5); // 2 entries of ~1 KB each per chunk
    expect(Math.max(...chunks.map((chunk) => chunk.length))).toBeLessThanOrEqual(2500 + 8);
    expect(Store.restore(chunks).digest()).toBe(store.digest());
  });

  it("captures in steps exactly what snapshot() captures at once", () => {
    fc.assert(
      fc.property(storeConfig, operations, fc.integer({ min: 1, max: 7 }), (config, ops, stepEntries) => {
        const store = new Store(config);
        applyAll(store, ops);
        const capture = store.snapshotCapture(2);
        let steps = 1;
        while (!capture.step(stepEntries)) steps++;
        expect(steps).toBe(Math.max(1, Math.ceil(store.size / stepEntries)));
        expect(capture.snapshot().entryCount).toBe(store.size);
        expect([...capture.snapshot().chunks()]).toEqual([...store.snapshot(2).chunks()]);
      }),
      { numRuns: 150 },
    );
  });

  it("refuses to go on capturing once the store changed", () => {
    const store = sampleStore();
    const capture = store.snapshotCapture();
    expect(capture.step(3)).toBe(false);
    expect(() => capture.snapshot()).toThrow(/before the last step/);
    store.set("late", bytes("x"), {}, 5_000);
    expect(() => capture.step(3)).toThrow(/changed during the capture/);
  });

  it("restores incrementally, one pushed chunk at a time", () => {
    const store = sampleStore();
    const restorer = Store.restorer();
    const chunks = [...store.snapshot(3).chunks()];
    for (const chunk of chunks.slice(0, -1)) restorer.push(chunk);
    expect(() => Store.restorer().finish()).toThrow(StoreSnapshotError);
    restorer.push(chunks.at(-1) as Uint8Array);
    expect(restorer.finish().digest()).toBe(store.digest());
  });

  it("restores local read stats as zero and carries replicated counters", () => {
    const store = sampleStore();
    store.get("key-1", 1_100);
    store.sweep(5_000);
    const restored = Store.restore(store.snapshot().chunks());
    expect(restored.stats()).toEqual({ ...store.stats(), hits: 0, misses: 0 });
  });

  it("prefers the snapshot's settings to the options passed to restore", () => {
    const store = sampleStore();
    store.configure({ policy: "random", entriesMax: 30 }, 1_100);
    const restored = Store.restore(store.snapshot().chunks(), { policy: "lru", entriesMax: 5 });
    expect(restored.options).toMatchObject({ policy: "random", entriesMax: 30 });
    expect(restored.digest()).toBe(store.digest());
  });

  const corruptions: Array<[string, (chunks: Uint8Array[]) => Uint8Array[]]> = [
    ["no chunks", () => []],
    ["missing trailer", (chunks) => chunks.slice(0, -1)],
    ["missing header", (chunks) => chunks.slice(1)],
    ["missing entry chunk", (chunks) => [...chunks.slice(0, 1), ...chunks.slice(2)]],
    ["duplicated entry chunk", (chunks) => [...chunks.slice(0, 2), ...chunks.slice(1)]],
    ["chunk after trailer", (chunks) => [...chunks, chunks[1] as Uint8Array]],
    ["unknown format version", (chunks) => chunks.map((chunk, index) => (index === 0 ? Uint8Array.of(99, ...chunk.subarray(1)) : chunk))],
    ["truncated entry chunk", (chunks) => chunks.map((chunk, index) => (index === 1 ? chunk.subarray(0, chunk.length - 3) : chunk))],
    ["trailing bytes", (chunks) => chunks.map((chunk, index) => (index === 1 ? Uint8Array.of(...chunk, 0) : chunk))],
    ["flipped value byte", (chunks) => chunks.map((chunk, index) => (index === 1 ? flipLast(chunk) : chunk))],
    ["unknown chunk kind", (chunks) => chunks.map((chunk, index) => (index === 1 ? Uint8Array.of(chunk[0] as number, 9, ...chunk.subarray(2)) : chunk))],
    [
      "unknown policy",
      (chunks) => chunks.map((chunk, index) => (index === 0 ? Uint8Array.of(chunk[0] as number, chunk[1] as number, 7, ...chunk.subarray(3)) : chunk)),
    ],
  ];
  it.each(corruptions)("rejects %s with StoreSnapshotError", (_name, corrupt) => {
    const chunks = [...sampleStore().snapshot(8).chunks()];
    expect(() => Store.restore(corrupt(chunks))).toThrow(StoreSnapshotError);
  });
});

describe("replay determinism", () => {
  it("the same operations on two fresh stores give identical results and digests", () => {
    fc.assert(
      fc.property(storeConfig, operations, (config, ops) => {
        const left = new Store(config);
        const right = new Store(config);
        expect(applyAll(left, ops)).toEqual(applyAll(right, ops));
        expect(left.digest()).toBe(right.digest());
      }),
      { numRuns: 200 },
    );
  });

  it("the digest changes with any replicated difference", () => {
    const base = (): Store => sampleStore();
    const digests = new Set([
      base().digest(),
      (() => {
        const store = base();
        store.touch(["key-9"], 1_100);
        return store.digest();
      })(),
      (() => {
        const store = base();
        store.reseed(2);
        return store.digest();
      })(),
      (() => {
        const store = base();
        store.set("key-9", bytes("other"), {}, 1_100);
        return store.digest();
      })(),
      (() => {
        const store = base();
        store.delete("key-9", 1_100);
        return store.digest();
      })(),
    ]);
    expect(digests.size).toBe(5);
  });
});

function flipLast(chunk: Uint8Array): Uint8Array {
  const copy = chunk.slice();
  copy[copy.length - 1] = (copy[copy.length - 1] as number) ^ 0xff;
  return copy;
}
