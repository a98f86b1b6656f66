import { describe, expect, it } from "vitest";
import { StoreAssertionError } from "./assert.js";
import { ENTRY_MEMORY_OVERHEAD_BYTES, entryBytes } from "./entry-bytes.js";
import type { EvictionPolicy } from "./eviction-order.js";
import { Store, type SetOptions } from "./store.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined): string | undefined => (value === undefined ? undefined : new TextDecoder().decode(value));
const NOW_MS = 10_000;

function storeWith(keys: readonly string[], options: ConstructorParameters<typeof Store>[0] = {}): Store {
  const store = new Store(options);
  keys.forEach((key, index) => store.set(key, bytes(`v${key}`), {}, NOW_MS + index));
  return store;
}

describe("set", () => {
  it("writes a value that peek and get read back, with text flag and expiry", () => {
    const store = new Store();
    const result = store.set("k", bytes("hello"), { text: true, expireAtMs: NOW_MS + 50 }, NOW_MS);
    expect(result).toEqual({ ok: true, version: 1, evicted: [] });
    expect(store.peek("k", NOW_MS)).toEqual({ value: bytes("hello"), text: true, version: 1, expireAtMs: NOW_MS + 50 });
    expect(store.get("k", NOW_MS)?.text).toBe(true);
  });

  // [description, prior writes, condition options, expected result]
  const conditionCases: Array<[string, Array<[string, SetOptions]>, SetOptions, unknown]> = [
    ["none on absent", [], {}, { ok: true, version: 1, evicted: [] }],
    ["none on present", [["k", {}]], {}, { ok: true, version: 2, evicted: [] }],
    ["if_absent on absent", [], { condition: "if_absent" }, { ok: true, version: 1, evicted: [] }],
    ["if_absent on present", [["k", {}]], { condition: "if_absent" }, { ok: false, reason: "exists", currentVersion: 1 }],
    ["if_absent on expired", [["k", { expireAtMs: NOW_MS }]], { condition: "if_absent" }, { ok: true, version: 2, evicted: [] }],
    ["if_version 0 on absent", [], { condition: "if_version", expectedVersion: 0 }, { ok: true, version: 1, evicted: [] }],
    ["if_version 0 on present", [["k", {}]], { condition: "if_version", expectedVersion: 0 }, { ok: false, reason: "version_mismatch", currentVersion: 1 }],
    [
      "if_version match",
      [
        ["x", {}],
        ["k", {}],
      ],
      { condition: "if_version", expectedVersion: 2 },
      { ok: true, version: 3, evicted: [] },
    ],
    [
      "if_version stale",
      [
        ["k", {}],
        ["k", {}],
      ],
      { condition: "if_version", expectedVersion: 1 },
      { ok: false, reason: "version_mismatch", currentVersion: 2 },
    ],
    ["if_version on absent", [], { condition: "if_version", expectedVersion: 1 }, { ok: false, reason: "version_mismatch", currentVersion: 0 }],
    [
      "if_version on expired",
      [["k", { expireAtMs: NOW_MS }]],
      { condition: "if_version", expectedVersion: 1 },
      { ok: false, reason: "version_mismatch", currentVersion: 0 },
    ],
    ["if_version 0 on expired", [["k", { expireAtMs: NOW_MS }]], { condition: "if_version", expectedVersion: 0 }, { ok: true, version: 2, evicted: [] }],
  ];
  it.each(conditionCases)("condition: %s", (_name, prior, options, expected) => {
    const store = new Store();
    for (const [key, priorOptions] of prior) store.set(key, bytes("old"), priorOptions, NOW_MS - 1);
    expect(store.set("k", bytes("new"), options, NOW_MS)).toEqual(expected);
    store.checkInvariants();
  });

  it("refused writes change nothing but may purge an expired entry", () => {
    const store = storeWith(["k"]);
    const before = store.digest();
    expect(store.set("k", bytes("x"), { condition: "if_absent" }, NOW_MS + 5).ok).toBe(false);
    expect(store.digest()).toBe(before);
    expect(text(store.peek("k", NOW_MS + 5)?.value)).toBe("vk");
  });

  it("never reuses a version after delete and re-create (no ABA for if_version)", () => {
    const store = new Store();
    expect(store.set("k", bytes("1"), {}, NOW_MS)).toMatchObject({ version: 1 });
    expect(store.delete("k", NOW_MS)).toBe(true);
    expect(store.set("k", bytes("2"), {}, NOW_MS)).toMatchObject({ version: 3 });
    expect(store.set("k", bytes("3"), { condition: "if_version", expectedVersion: 1 }, NOW_MS)).toEqual({
      ok: false,
      reason: "version_mismatch",
      currentVersion: 3,
    });
  });

  it("an expiry at or before now succeeds, consumes a version and leaves the key absent", () => {
    const store = storeWith(["k"]);
    expect(store.set("k", bytes("gone"), { expireAtMs: NOW_MS + 2 }, NOW_MS + 2)).toEqual({ ok: true, version: 2, evicted: [] });
    expect(store.peek("k", NOW_MS + 2)).toBeUndefined();
    expect(store.size).toBe(0);
    expect(store.stats().expirations).toBe(1);
  });

  it("treats an expired entry as absent and replaces it on write", () => {
    const store = new Store();
    store.set("k", bytes("a"), { expireAtMs: NOW_MS + 10 }, NOW_MS);
    expect(store.peek("k", NOW_MS + 9)).toBeDefined();
    expect(store.peek("k", NOW_MS + 10)).toBeUndefined();
    expect(store.size).toBe(1); // reads never remove
    store.set("other", bytes("b"), {}, NOW_MS + 10); // the write's sweep removes it
    expect(store.size).toBe(1);
    expect(store.stats().expirations).toBe(1);
  });

  it("rejects, as programmer errors, entries larger than bytesMax and malformed arguments", () => {
    const store = new Store({ bytesMax: ENTRY_MEMORY_OVERHEAD_BYTES + 10 });
    const cases: Array<() => unknown> = [
      () => store.set("k", new Uint8Array(10), {}, NOW_MS),
      () => store.set("k", bytes("v"), { expireAtMs: -1 }, NOW_MS),
      () => store.set("k", bytes("v"), { expireAtMs: 1.5 }, NOW_MS),
      () => store.set("k", bytes("v"), { condition: "if_version", expectedVersion: -1 }, NOW_MS),
      () => store.set("k", bytes("v"), { condition: "sometimes" as never }, NOW_MS),
      () => store.set("k", "v" as never, {}, NOW_MS),
      () => store.set("k", bytes("v"), {}, -1),
      () => store.set("k", bytes("v"), {}, Number.NaN),
      () => store.set("\ud800", bytes("v"), {}, NOW_MS),
    ];
    for (const call of cases) expect(call).toThrow(StoreAssertionError);
    expect(store.size).toBe(0);
    expect(store.set("k", new Uint8Array(9), {}, NOW_MS).ok).toBe(true);
  });
});

describe("delete", () => {
  const cases: Array<[string, SetOptions | undefined, number, boolean, number]> = [
    // [name, prior write, delete at offset, result, revision after]
    ["live key", {}, 0, true, 2],
    ["absent key", undefined, 0, false, 0],
    ["expired key", { expireAtMs: NOW_MS + 1 }, 1, false, 1],
  ];
  it.each(cases)("%s", (_name, prior, offsetMs, expected, revision) => {
    const store = new Store();
    if (prior !== undefined) store.set("k", bytes("v"), prior, NOW_MS);
    expect(store.delete("k", NOW_MS + offsetMs)).toBe(expected);
    expect(store.revision).toBe(revision);
    expect(store.size).toBe(0);
    store.checkInvariants();
  });
});

describe("incr", () => {
  const max = 2n ** 63n - 1n;
  const min = -(2n ** 63n);
  // [name, initial value or undefined, delta, expected]
  const cases: Array<[string, string | undefined, bigint, unknown]> = [
    ["absent starts at 0", undefined, 5n, { ok: true, value: 5n }],
    ["negative delta", "10", -15n, { ok: true, value: -5n }],
    ["to the maximum", (max - 1n).toString(), 1n, { ok: true, value: max }],
    ["past the maximum", max.toString(), 1n, { ok: false, reason: "overflow" }],
    ["maximum plus maximum", max.toString(), max, { ok: false, reason: "overflow" }],
    ["to the minimum", (min + 1n).toString(), -1n, { ok: true, value: min }],
    ["past the minimum", min.toString(), -1n, { ok: false, reason: "overflow" }],
    ["minimum plus minimum from absent", undefined, min, { ok: true, value: min }],
    ["minimum plus maximum", min.toString(), max, { ok: true, value: -1n }],
    ["zero delta", "7", 0n, { ok: true, value: 7n }],
    ["not a number", "abc", 1n, { ok: false, reason: "not_integer" }],
    ["empty", "", 1n, { ok: false, reason: "not_integer" }],
    ["leading zero", "007", 1n, { ok: false, reason: "not_integer" }],
    ["negative zero", "-0", 1n, { ok: false, reason: "not_integer" }],
    ["lone minus", "-", 1n, { ok: false, reason: "not_integer" }],
    ["plus sign", "+1", 1n, { ok: false, reason: "not_integer" }],
    ["whitespace", " 1", 1n, { ok: false, reason: "not_integer" }],
    ["float", "1.5", 1n, { ok: false, reason: "not_integer" }],
    ["above int64", "9223372036854775808", -1n, { ok: false, reason: "not_integer" }],
    ["below int64", "-9223372036854775809", 1n, { ok: false, reason: "not_integer" }],
    ["too long", "1".repeat(21), 1n, { ok: false, reason: "not_integer" }],
  ];
  it.each(cases)("%s", (_name, initial, delta, expected) => {
    const store = new Store();
    if (initial !== undefined) store.set("n", bytes(initial), {}, NOW_MS);
    const before = store.digest();
    const result = store.incr("n", delta, NOW_MS);
    expect(result).toMatchObject(expected as object);
    if (result.ok) {
      expect(store.peek("n", NOW_MS)).toMatchObject({ value: bytes(result.value.toString()), text: true, version: result.version });
    } else {
      expect(store.digest()).toBe(before);
    }
  });

  it("keeps a live key's expiry and drops an expired key's value", () => {
    const store = new Store();
    store.set("n", bytes("4"), { expireAtMs: NOW_MS + 10 }, NOW_MS);
    expect(store.incr("n", 1n, NOW_MS + 5)).toMatchObject({ ok: true, value: 5n });
    expect(store.peek("n", NOW_MS + 5)?.expireAtMs).toBe(NOW_MS + 10);
    expect(store.incr("n", 1n, NOW_MS + 10)).toMatchObject({ ok: true, value: 1n });
    expect(store.peek("n", NOW_MS + 10)?.expireAtMs).toBe(0);
  });

  it("rejects a delta outside int64 as a programmer error", () => {
    const store = new Store();
    expect(() => store.incr("n", 2n ** 63n, NOW_MS)).toThrow(StoreAssertionError);
    expect(() => store.incr("n", 1 as never, NOW_MS)).toThrow(StoreAssertionError);
  });
});

describe("eviction by policy", () => {
  // Three keys a, b, c written in order, then hints; writing d into a full store (entriesMax 3) evicts:
  const cases: Array<[EvictionPolicy, string[], string]> = [
    ["lru", [], "a"],
    ["lru", ["a"], "b"],
    ["lru", ["a", "b"], "c"],
    ["fifo", ["a", "b"], "a"],
    ["lfu", [], "a"],
    ["lfu", ["a"], "b"],
    ["lfu", ["a", "b", "b", "c"], "a"],
    ["lfu", ["c", "a", "b"], "c"],
  ];
  it.each(cases)("%s after touching %j evicts %s", (policy, touched, victim) => {
    const store = storeWith(["a", "b", "c"], { policy, entriesMax: 3 });
    store.touch(touched, NOW_MS + 10);
    expect(store.set("d", bytes("vd"), {}, NOW_MS + 11)).toMatchObject({ ok: true, evicted: [victim] });
    store.checkInvariants();
  });

  it("FIFO: overwriting a key does not move it; LRU: it does", () => {
    const fifo = storeWith(["a", "b"], { policy: "fifo", entriesMax: 2 });
    fifo.set("a", bytes("again"), {}, NOW_MS + 5);
    expect(fifo.set("c", bytes("vc"), {}, NOW_MS + 6)).toMatchObject({ evicted: ["a"] });
    const lru = storeWith(["a", "b"], { policy: "lru", entriesMax: 2 });
    lru.set("a", bytes("again"), {}, NOW_MS + 5);
    expect(lru.set("c", bytes("vc"), {}, NOW_MS + 6)).toMatchObject({ evicted: ["b"] });
  });

  it("never evicts the key being written, even when it is first in line", () => {
    const store = storeWith(["a", "b"], { policy: "fifo", entriesMax: 2, bytesMax: 2 * entryBytes("a", bytes("va")) });
    // Growing "a" (first in FIFO order) breaks bytesMax; "b" must go, not "a".
    expect(store.set("a", bytes("va+"), {}, NOW_MS + 5)).toMatchObject({ ok: true, evicted: ["b"] });
    expect(store.peek("a", NOW_MS + 5)).toBeDefined();
  });

  it("evicts as many keys as bytesMax requires", () => {
    const small = entryBytes("a", bytes("va"));
    const store = storeWith(["a", "b", "c"], { bytesMax: 3 * small });
    const big = new Uint8Array(2 * small - ENTRY_MEMORY_OVERHEAD_BYTES - 1);
    expect(store.set("d", big, {}, NOW_MS + 5)).toMatchObject({ ok: true, evicted: ["a", "b"] });
    expect(store.stats().bytes).toBeLessThanOrEqual(3 * small);
  });

  it("LFU ages: halving drops counts so old favourites can be evicted", () => {
    // Interval 8: events are a, b, c inserts (3), a x4 (7), then d's insert (8) halves.
    const store = storeWith(["a", "b", "c"], { policy: "lfu", entriesMax: 4, lfuHalvingIntervalAccesses: 8 });
    store.touch(["a", "a", "a", "a"], NOW_MS + 5);
    expect(store.orderedEntries().map((e) => [e.key, e.frequency])).toEqual([
      ["b", 1],
      ["c", 1],
      ["a", 5],
    ]);
    store.set("d", bytes("vd"), {}, NOW_MS + 6);
    expect(store.orderedEntries().map((e) => [e.key, e.frequency])).toEqual([
      ["b", 0],
      ["c", 0],
      ["d", 0],
      ["a", 2],
    ]);
    store.touch(["b"], NOW_MS + 7);
    expect(store.orderedEntries().map((e) => [e.key, e.frequency])).toEqual([
      ["c", 0],
      ["d", 0],
      ["b", 1],
      ["a", 2],
    ]);
    expect(store.set("e", bytes("ve"), {}, NOW_MS + 8)).toMatchObject({ evicted: ["c"] });
    store.checkInvariants();
  });

  it("LFU's automatic halving interval (16 x entriesMax) follows configure()", () => {
    const store = storeWith(["a", "b"], { policy: "lfu", entriesMax: 4 }); // interval 64; 2 events
    store.touch(new Array<string>(38).fill("a"), NOW_MS + 5); // 40 events
    expect(store.orderedEntries().map((e) => [e.key, e.frequency])).toEqual([
      ["b", 1],
      ["a", 39],
    ]);
    store.configure({ entriesMax: 2 }, NOW_MS + 6); // interval 32 <= 40: halves now
    expect(store.orderedEntries().map((e) => [e.key, e.frequency])).toEqual([
      ["b", 0],
      ["a", 19],
    ]);
    store.configure({ entriesMax: 3 }, NOW_MS + 7); // interval 48, clock at 0
    store.touch(new Array<string>(47).fill("b"), NOW_MS + 8);
    expect(store.orderedEntries().map((e) => [e.key, e.frequency])).toEqual([
      ["a", 19],
      ["b", 47],
    ]);
    store.touch(["b"], NOW_MS + 9); // the 48th event halves
    expect(store.orderedEntries().map((e) => [e.key, e.frequency])).toEqual([
      ["a", 9],
      ["b", 24],
    ]);
    store.checkInvariants();
  });

  it("Random: picks uniformly among the other keys with the seeded generator", () => {
    const counts = new Map<string, number>();
    const trials = 4000;
    const store = new Store({ policy: "random", entriesMax: 5, seed: 7 });
    for (const key of ["a", "b", "c", "d", "e"]) store.set(key, bytes("v"), {}, NOW_MS);
    for (let trial = 0; trial < trials; trial++) {
      const result = store.set("x", bytes("v"), {}, NOW_MS);
      const victim = result.ok ? result.evicted[0] : undefined;
      expect(victim).toBeDefined();
      counts.set(victim as string, (counts.get(victim as string) ?? 0) + 1);
      store.set(victim as string, bytes("v"), {}, NOW_MS); // evicts "x" or another key
      if (store.peek("x", NOW_MS) !== undefined) store.delete("x", NOW_MS);
      if (store.size < 5) store.set(["a", "b", "c", "d", "e"].find((k) => store.peek(k, NOW_MS) === undefined) as string, bytes("v"), {}, NOW_MS);
    }
    const expected = trials / 5;
    const chiSquare = [...counts.values()].reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    expect(counts.size).toBe(5);
    expect(chiSquare).toBeLessThan(18.47); // p = 0.001 for 4 degrees of freedom
  });

  it("Random: the same seed gives the same victims, reseed changes them", () => {
    const victims = (seed: number, reseed?: number): string[] => {
      const store = new Store({ policy: "random", entriesMax: 3, seed });
      if (reseed !== undefined) store.reseed(reseed);
      const evicted: string[] = [];
      for (let index = 0; index < 40; index++) {
        const result = store.set(`k${index}`, bytes("v"), {}, NOW_MS);
        if (result.ok) evicted.push(...result.evicted);
      }
      return evicted;
    };
    expect(victims(3)).toEqual(victims(3));
    expect(victims(3, 99)).toEqual(victims(4, 99));
    expect(victims(3)).not.toEqual(victims(4));
  });
});

describe("touch", () => {
  it("ignores absent and expired keys and changes no version", () => {
    const store = new Store({ policy: "lru", entriesMax: 2 });
    store.set("a", bytes("1"), { expireAtMs: NOW_MS + 5 }, NOW_MS);
    store.set("b", bytes("2"), {}, NOW_MS);
    store.touch(["a", "missing"], NOW_MS + 5);
    expect(store.revision).toBe(2);
    expect(store.orderedEntries().map((e) => e.key)).toEqual(["b"]); // a expired by the sweep step
  });

  it("is a no-op for FIFO and Random", () => {
    for (const policy of ["fifo", "random"] as const) {
      const store = storeWith(["a", "b", "c"], { policy });
      const before = store.digest();
      store.touch(["a", "c", "a"], NOW_MS + 5);
      expect(store.digest()).toBe(before);
    }
  });
});

describe("sweep", () => {
  it("expires at most sweepKeysMax entries per call, earliest expiry then key first", () => {
    const store = new Store({ sweepKeysMax: 2 });
    const keys = ["e", "d", "c", "b", "a"];
    keys.forEach((key, index) => store.set(key, bytes("v"), { expireAtMs: NOW_MS + 10 + (index % 2) }, NOW_MS));
    store.set("stay", bytes("v"), { expireAtMs: NOW_MS + 100 }, NOW_MS);
    const removed: string[][] = [];
    for (let call = 0; call < 4; call++) {
      const before = new Set(store.orderedEntries().map((e) => e.key));
      const count = store.sweep(NOW_MS + 20);
      removed.push([...before].filter((key) => store.peek(key, 0) === undefined).sort());
      expect(count).toBe(removed[call]?.length);
    }
    // expireAtMs +10: e, c, a; +11: d, b.
    expect(removed).toEqual([["a", "c"], ["e"].concat(["b"]).sort(), ["d"], []]);
    expect(store.stats().expirations).toBe(5);
    expect(store.size).toBe(1);
  });

  it("each apply-time call runs one bounded sweep step", () => {
    const store = new Store({ sweepKeysMax: 1 });
    for (const key of ["a", "b", "c"]) store.set(key, bytes("v"), { expireAtMs: NOW_MS + 1 }, NOW_MS);
    store.touch([], NOW_MS + 1);
    expect(store.size).toBe(2);
    store.delete("zzz", NOW_MS + 1);
    expect(store.size).toBe(1);
  });
});

describe("configure", () => {
  it("evicts down to new bounds and keeps relative order across a policy change", () => {
    const store = storeWith(["a", "b", "c", "d"], { policy: "lru" });
    store.touch(["a"], NOW_MS + 5);
    expect(store.configure({ policy: "lfu", entriesMax: 3 }, NOW_MS + 6)).toEqual(["b"]);
    expect(store.orderedEntries().map((e) => [e.key, e.frequency])).toEqual([
      ["c", 1],
      ["d", 1],
      ["a", 1],
    ]);
    expect(store.options).toMatchObject({ policy: "lfu", entriesMax: 3 });
    expect(store.configure({ bytesMax: entryBytes("a", bytes("va")) }, NOW_MS + 7)).toEqual(["c", "d"]);
    store.checkInvariants();
  });

  it("rejects bounds below 1 and unknown policies as programmer errors", () => {
    const store = new Store();
    for (const options of [{ entriesMax: 0 }, { bytesMax: 0 }, { entriesMax: 1.5 }, { policy: "mru" as never }]) {
      expect(() => store.configure(options, NOW_MS)).toThrow(StoreAssertionError);
    }
  });
});

describe("options and stats", () => {
  it("fills documented defaults", () => {
    expect(new Store().options).toEqual({
      policy: "lru",
      entriesMax: 1_000_000,
      bytesMax: 256 * 1024 * 1024,
      seed: 1,
      sweepKeysMax: 20,
      lfuHalvingIntervalAccesses: 0,
    });
  });

  it.each([
    { entriesMax: 0 },
    { bytesMax: -1 },
    { sweepKeysMax: 0 },
    { sweepKeysMax: 1e9 },
    { seed: 0.5 },
    { lfuHalvingIntervalAccesses: -1 },
    { policy: "x" as never },
  ])("rejects %j", (options) => {
    expect(() => new Store(options)).toThrow(StoreAssertionError);
  });

  it("counts hits and misses on get only, and accounts bytes per the formula", () => {
    const store = new Store();
    store.set("ké", bytes("12345"), {}, NOW_MS);
    store.peek("ké", NOW_MS);
    store.get("ké", NOW_MS);
    store.get("nope", NOW_MS);
    expect(store.stats()).toEqual({ hits: 1, misses: 1, evictions: 0, expirations: 0, keys: 1, bytes: 3 + 5 + ENTRY_MEMORY_OVERHEAD_BYTES });
  });

  it("reads never change the digest", () => {
    const store = storeWith(["a", "b"], { policy: "lfu" });
    const before = store.digest();
    store.get("a", NOW_MS);
    store.get("zz", NOW_MS);
    store.peek("b", NOW_MS);
    expect(store.digest()).toBe(before);
  });
});
