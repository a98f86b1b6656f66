import { describe, expect, it } from "vitest";
import { snapshotChunkBytesMax, SNAPSHOT_CHUNK_BYTES_DEFAULT } from "./store-snapshot.js";
import { Store } from "./store.js";

const now = 1_700_000_000_000;

function filled(values: readonly number[]): Store {
  const store = new Store({ policy: "lfu", entriesMax: 10_000, bytesMax: 1 << 28 });
  values.forEach((bytes, i) =>
    store.set(`key-${i}-é`, new Uint8Array(bytes).fill(i & 0xff), { expireAtMs: i % 3 === 0 ? now + 1000 + i : 0, text: i % 2 === 0 }, now),
  );
  store.touch(["key-1-é", "key-1-é", "key-4-é"], now);
  return store;
}

function stepped(store: Store, costPerStep: number): { digest: string; steps: number } {
  const steps = store.snapshot().digestSteps(costPerStep);
  let count = 1;
  for (;;) {
    const next = steps.next();
    if (next.done === true) return { digest: next.value, steps: count };
    count++;
  }
}

describe("Store digests in steps", () => {
  it("equal Store.digest() whatever the step size, values split across steps included", () => {
    const store = filled([0, 1, 100, 5000, 70_000, 3, 1 << 20, 12]);
    for (const cost of [1, 7, 300, 4096, 1 << 20, 1 << 30]) expect(stepped(store, cost).digest).toBe(store.digest());
    expect(stepped(store, 4096).steps).toBeGreaterThan((1 << 20) / 4096);
    expect(stepped(store, 1 << 30).steps).toBe(1);
    expect(stepped(new Store(), 10).digest).toBe(new Store().digest());
  });

  it("are taken at capture time: later writes do not change them", () => {
    const store = filled([10, 20, 30]);
    const before = store.digest();
    const steps = store.snapshot().digestSteps(1);
    store.set("late", new Uint8Array(4), {}, now);
    let next = steps.next();
    while (next.done !== true) next = steps.next();
    expect(next.value).toBe(before);
    expect(store.digest()).not.toBe(before);
  });
});

describe("snapshot entries chunks", () => {
  it("stay within the target, and an entry larger than it goes alone", () => {
    const target = 10_000;
    const store = filled([3000, 3000, 3000, 3000, 25_000, 100, 100, 9_000, 1]);
    const chunks = [...store.snapshot(1024, target).chunks()];
    const bound = snapshotChunkBytesMax(target, 16, 25_000);
    for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(bound);
    const large = chunks.filter((c) => c.length > target);
    expect(large).toHaveLength(1);
    expect(large[0]![2]).toBe(1); // one entry in it
    expect(Store.restore(chunks, {}).digest()).toBe(store.digest());
  });

  it("bound the largest entry with the default target", () => {
    expect(snapshotChunkBytesMax(SNAPSHOT_CHUNK_BYTES_DEFAULT, 64 * 1024, 64 * 1024 * 1024)).toBeLessThan(64 * 1024 * 1024 + 64 * 1024 + 64);
    expect(snapshotChunkBytesMax(SNAPSHOT_CHUNK_BYTES_DEFAULT, 10, 10)).toBeLessThan(SNAPSHOT_CHUNK_BYTES_DEFAULT + 8);
  });
});
