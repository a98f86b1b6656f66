import type { Transport } from "@connectrpc/connect";
import { PROTOCOL_LIMITS } from "@distcache/proto/limits";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createCacheClient, type CacheClient } from "./cache-client.js";
import type { CacheClientOptions } from "./client-options.js";
import { InvalidArgumentError, VersionMismatchError } from "./errors.js";
import { checkValue, isWellFormed, utf8ByteLength } from "./request-checks.js";
import { FakeCluster, fakeTime } from "./testing/fake-cluster.js";

/*
 * Every argument the server would refuse is refused by the SDK first, with
 * InvalidArgumentError naming the field, before any I/O: the transport below records
 * every RPC (GetTopology included), and must see none.
 */

function setup(options: Partial<CacheClientOptions> = {}) {
  const cluster = new FakeCluster();
  const time = fakeTime();
  const rpcs: string[] = [];
  const recording = (baseUrl: string): Transport => {
    const inner = cluster.transport(baseUrl);
    return {
      unary: (...args) => (rpcs.push(args[0].localName), inner.unary(...args)),
      stream: (...args) => (rpcs.push(args[0].localName), inner.stream(...args)),
    };
  };
  const client = createCacheClient({ transport: recording, seeds: [cluster.urlOf("n1")], clock: time.clock, sleep: time.sleep, batchKeysMax: 4, ...options });
  return { cluster, client, rpcs };
}

const { keyBytesMax, valueBytesMax, ttlMsMax, batchItemsMax } = PROTOCOL_LIMITS;
const VERSION_MAX = PROTOCOL_LIMITS.versionMax;
/** 65,537 bytes, each way of getting there: one-byte, three-byte and four-byte (pair) characters. */
const LONG_KEYS: [string, string][] = [
  ["ASCII", "k".repeat(keyBytesMax + 1)],
  ["3-byte characters", "€".repeat(Math.ceil((keyBytesMax + 1) / 3))],
  ["surrogate pairs", "😀".repeat(keyBytesMax / 4) + "k"],
];
const loader = () => Promise.resolve("loaded");
const anyValue = <T>(v: unknown) => v as T;

type Call = (c: CacheClient) => Promise<unknown>;
/** [case, call, the message must match, client options] */
const BAD_CALLS: [string, Call, RegExp, Partial<CacheClientOptions>?][] = [
  // keys, in every method that takes one
  ["get: empty key", (c) => c.get(""), /^key must be a non-empty string/],
  ["get: key not a string", (c) => c.get(anyValue(7)), /^key must be a non-empty string/],
  ["getText: empty key", (c) => c.getText(""), /^key must be/],
  ["getOrLoad: empty key", (c) => c.getOrLoad("", loader), /^key must be/],
  ["set: lone high surrogate", (c) => c.set("a\uD800", "v"), /^key is not well-formed UTF-8/],
  ["set: lone low surrogate", (c) => c.set("\uDC00b", "v"), /^key is not well-formed UTF-8/],
  ["set: reversed pair", (c) => c.set("\uDE00\uD83D", "v"), /^key is not well-formed UTF-8/],
  ...LONG_KEYS.map(([name, key]): [string, Call, RegExp] => [
    `set: key of ${name} above keyBytesMax`,
    (c) => c.set(key, "v"),
    /^key is 6553\d bytes of UTF-8, above the protocol's ceiling of 65536 \(key_bytes_max\)/,
  ]),
  ["create: long key", (c) => c.create(LONG_KEYS[0]![1], "v"), /^key is 65537 bytes/],
  ["update: long key", (c) => c.update(LONG_KEYS[1]![1], "v", 1), /^key is \d+ bytes/],
  ["delete: lone surrogate", (c) => c.delete("\uD800"), /^key is not well-formed/],
  ["incr: long key", (c) => c.incr(LONG_KEYS[2]![1]), /^key is 65537 bytes/],
  ["mget: a long key", (c) => c.mget(["a", LONG_KEYS[0]![1]]), /^keys\[1\] is 65537 bytes/],
  ["mget: an empty key", (c) => c.mget(["a", ""]), /^keys\[1\] must be a non-empty string/],
  [
    "mset: lone surrogate in a key",
    (c) =>
      c.mset([
        { key: "a", value: "v" },
        { key: "b\uDBFF", value: "v" },
      ]),
    /^items\[1\]\.key is not well-formed/,
  ],
  ["mset: an item that is not an object", (c) => c.mset([anyValue(null)]), /^items\[0\]\.key must be/],
  ["mdelete: an empty key", (c) => c.mdelete(["a", ""]), /^keys\[1\] must be/],
  // values
  ["set: value a number", (c) => c.set("k", anyValue(5)), /^value must be a string or a Uint8Array/],
  ["set: value null", (c) => c.set("k", anyValue(null)), /^value must be a string or a Uint8Array/],
  [
    "set: bytes above valueBytesMax",
    (c) => c.set("k", new Uint8Array(valueBytesMax + 1)),
    /^value is 67108865 bytes, above the protocol's ceiling of 67108864 \(value_bytes_max\)/,
  ],
  ["set: text above valueBytesMax", (c) => c.set("k", "é".repeat(valueBytesMax / 2 + 1)), /^value is 67108866 bytes of UTF-8, above/],
  ["mset: a value above valueBytesMax", (c) => c.mset([{ key: "a", value: new Uint8Array(valueBytesMax + 1) }]), /^items\[0\]\.value is 67108865 bytes/],
  // TTLs
  ["set: negative ttlMs", (c) => c.set("k", "v", { ttlMs: -1 }), /^ttlMs must be an integer of milliseconds in \[0, 3153600000000\]/],
  ["set: fractional ttlMs", (c) => c.set("k", "v", { ttlMs: 1.5 }), /^ttlMs must be/],
  ["set: ttlMs above ttlMsMax", (c) => c.set("k", "v", { ttlMs: ttlMsMax + 1 }), /^ttlMs must be .* got 3153600000001$/],
  ["set: ttlMs NaN", (c) => c.set("k", "v", { ttlMs: NaN }), /^ttlMs must be/],
  ["set: ttlMs a string", (c) => c.set("k", "v", { ttlMs: anyValue("10") }), /^ttlMs must be/],
  ["create: ttlMs Infinity", (c) => c.create("k", "v", { ttlMs: Infinity }), /^ttlMs must be/],
  ["getOrLoad: ttlMs above ttlMsMax", (c) => c.getOrLoad("k", loader, { ttlMs: ttlMsMax + 1 }), /^ttlMs must be/],
  [
    "mset: a bad ttlMs",
    (c) =>
      c.mset([
        { key: "a", value: "v" },
        { key: "b", value: "v", ttlMs: -5 },
      ]),
    /^items\[1\]\.ttlMs must be/,
  ],
  // expected versions
  ["update: version 2^53", (c) => c.update("k", "v", 2n ** 53n), /^expectedVersion must be in \[1, 2\^53 - 1\], or 0 for an absent key, got 9007199254740992$/],
  ["update: version 2^64 - 1", (c) => c.update("k", "v", 2n ** 64n - 1n), /^expectedVersion must be in \[1, 2\^53 - 1\]/],
  ["update: negative version", (c) => c.update("k", "v", -1), /^expectedVersion must be in/],
  ["update: negative bigint version", (c) => c.update("k", "v", -1n), /^expectedVersion must be in/],
  [
    "update: number version beyond safe integers",
    (c) => c.update("k", "v", 2 ** 53),
    /^expectedVersion must be a bigint or a safe integer number, got 9007199254740992$/,
  ],
  ["update: fractional version", (c) => c.update("k", "v", 1.5), /^expectedVersion must be a bigint or a safe integer/],
  ["update: version a string", (c) => c.update("k", "v", anyValue("1")), /^expectedVersion must be a bigint or a safe integer number, got string/],
  ["set: ifVersion 2^53", (c) => c.set("k", "v", { ifVersion: 2n ** 53n }), /^ifVersion must be in \[1, 2\^53 - 1\]/],
  ["set: ifAbsent with ifVersion", (c) => c.set("k", "v", { ifAbsent: true, ifVersion: 1 }), /^ifAbsent and ifVersion cannot be combined/],
  // counters
  ["incr: delta 2^63", (c) => c.incr("k", 2n ** 63n), /^delta must be a signed 64-bit integer, got 9223372036854775808$/],
  ["incr: delta below -2^63", (c) => c.incr("k", -(2n ** 63n) - 1n), /^delta must be a signed 64-bit integer/],
  ["incr: fractional delta", (c) => c.incr("k", 0.5), /^delta must be a bigint or a safe integer/],
  ["incr: delta a string", (c) => c.incr("k", anyValue("1")), /^delta must be a bigint or a safe integer/],
  // batches
  ["mget: no keys", (c) => c.mget([]), /^keys must hold at least one entry/],
  ["mset: no items", (c) => c.mset([]), /^items must hold at least one entry/],
  ["mdelete: no keys", (c) => c.mdelete([]), /^keys must hold at least one entry/],
  ["mget: not an array", (c) => c.mget(anyValue("ab")), /^keys must be an array/],
  ["mget: above batchKeysMax", (c) => c.mget(["a", "b", "c", "d", "e"]), /^keys holds 5 entries, above batchKeysMax 4$/],
  ["mset: above batchKeysMax", (c) => c.mset(["a", "b", "c", "d", "e"].map((key) => ({ key, value: "v" }))), /^items holds 5 entries, above batchKeysMax 4$/],
  ["mdelete: above batchKeysMax", (c) => c.mdelete(["a", "b", "c", "d", "e"]), /^keys holds 5 entries, above batchKeysMax 4$/],
  [
    "mget: above batchItemsMax",
    (c) => c.mget(Array.from({ length: batchItemsMax + 1 }, (_, i) => `k${i}`)),
    /^keys holds 10001 entries, above batchKeysMax 10000$/,
    { batchKeysMax: batchItemsMax },
  ],
  ["mset: a duplicate key", (c) => c.mset(["a", "b", "c", "a"].map((key) => ({ key, value: "v" }))), /^items\[3\]\.key duplicates items\[0\]\.key$/],
  ["mdelete: a duplicate key", (c) => c.mdelete(["a", "b", "b"]), /^keys\[2\] duplicates keys\[1\]$/],
  // enums and call options
  ["get: unknown consistency", (c) => c.get("k", { consistency: anyValue("linear") }), /^consistency must be "strong" or "eventual", got "linear"$/],
  ["get: consistency naming an Object property", (c) => c.get("k", { consistency: anyValue("toString") }), /^consistency must be/],
  ["get: consistency __proto__", (c) => c.get("k", { consistency: anyValue("__proto__") }), /^consistency must be/],
  ["get: consistency a number", (c) => c.get("k", { consistency: anyValue(1) }), /^consistency must be .* got 1$/],
  ["mget: unknown consistency", (c) => c.mget(["a"], { consistency: anyValue("STRONG") }), /^consistency must be/],
  ["getOrLoad: unknown consistency", (c) => c.getOrLoad("k", loader, { consistency: anyValue("linear") }), /^consistency must be/],
  ["get: zero timeoutMs", (c) => c.get("k", { timeoutMs: 0 }), /^timeoutMs must be an integer in \[1, 600000\]/],
  ["set: fractional timeoutMs", (c) => c.set("k", "v", { timeoutMs: 2.5 }), /^timeoutMs must be/],
  ["transferLeader: shard above uint32", (c) => c.transferLeader(2 ** 32), /^shard must be an integer in \[0, 2\^32 - 1\]/],
  ["transferLeader: negative shard", (c) => c.transferLeader(-1), /^shard must be an integer in \[0, 2\^32 - 1\]/],
  ["transferLeader: fractional shard", (c) => c.transferLeader(1.5), /^shard must be an integer in \[0, 2\^32 - 1\]/],
  ["transferLeader: shard a string", (c) => c.transferLeader(anyValue("0")), /^shard must be an integer in \[0, 2\^32 - 1\]/],
  ["transferLeader: node id not a string", (c) => c.transferLeader(0, anyValue(5)), /^toNodeId must be a node id \(1 to 64/],
  [
    "transferLeader: node id of 70,000 characters",
    (c) => c.transferLeader(0, "n".repeat(70_000)),
    /^toNodeId must be a node id \(1 to 64.*got 70000 characters/,
  ],
];

describe("bad arguments fail with InvalidArgumentError before any I/O", () => {
  it.each(BAD_CALLS)("%s", async (_, call, message, options) => {
    const { client, rpcs } = setup(options);
    const err = await call(client).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(message);
    expect(rpcs).toEqual([]);
  });

  it("the SDK's own size refusals carry the bound as limitExceeded", async () => {
    const { client } = setup();
    const err = await client.set("k".repeat(keyBytesMax + 1), "v").catch((e: unknown) => e);
    expect((err as InvalidArgumentError).limitExceeded).toEqual({ limit: "key_bytes_max", max: 65536n, actual: 65537n });
  });
});

describe("arguments at the ceilings are sent", () => {
  it("a key of exactly keyBytesMax bytes, the longest TTL, the extreme deltas", async () => {
    const { client, cluster } = setup();
    const key = "😀".repeat(keyBytesMax / 4);
    expect(utf8ByteLength(key)).toBe(keyBytesMax);
    await client.set(key, "v", { ttlMs: ttlMsMax });
    expect(cluster.peek(key)?.text).toBe("v");
    expect(await client.incr("low", -(2n ** 63n))).toBe(-(2n ** 63n));
    expect(await client.incr("high", 2n ** 63n - 1n)).toBe(2n ** 63n - 1n);
  });

  it("update at version 2^53 - 1 reaches the server; version 0 means the key is absent", async () => {
    const { client, cluster } = setup();
    await expect(client.update("k", "v", VERSION_MAX)).rejects.toBeInstanceOf(VersionMismatchError);
    expect(cluster.callsTo("set")).toHaveLength(1);
    const created = await client.update("k", "v", 0);
    expect(cluster.peek("k")?.version).toBe(created);
    await expect(client.update("k", "w", 0)).rejects.toBeInstanceOf(VersionMismatchError);
    await expect(client.set("k", "w", { ifVersion: 0n })).rejects.toBeInstanceOf(VersionMismatchError);
  });

  it("a batch of batchItemsMax keys", async () => {
    const { client, cluster } = setup({ batchKeysMax: batchItemsMax });
    const keys = Array.from({ length: batchItemsMax }, (_, i) => `k${i}`);
    expect(await client.mset(keys.map((key) => ({ key, value: key })))).toHaveLength(batchItemsMax);
    expect(cluster.peek("k9999")?.text).toBe("k9999");
  });

  it("mget with repeated keys answers every position", async () => {
    const { client, cluster } = setup();
    const [a, b] = [cluster.keyForShard(0), cluster.keyForShard(1)];
    await client.mset([{ key: a, value: "A" }]);
    const results = await client.mget([a, b, a, a]);
    expect(results.map((r) => r?.text ?? null)).toEqual(["A", null, "A", "A"]);
    expect(
      cluster
        .callsTo("mGet")
        .flatMap((c) => c.keys)
        .sort(),
    ).toEqual([a, a, a, b].sort());
  });
});

describe("UTF-8 measures", () => {
  const anyUnits = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u)), maxLength: 40 });

  it("utf8ByteLength is the length TextEncoder produces, lone surrogates included", () => {
    const encoder = new TextEncoder();
    fc.assert(fc.property(fc.oneof(anyUnits, fc.string({ unit: "binary" })), (s) => utf8ByteLength(s) === encoder.encode(s).length));
  });

  it("isWellFormed is true exactly when the string survives UTF-8 unchanged", () => {
    const roundTrip = (s: string) => new TextDecoder().decode(new TextEncoder().encode(s));
    fc.assert(fc.property(anyUnits, (s) => isWellFormed(s) === (roundTrip(s) === s)));
  });

  it("checkValue measures text in bytes, not characters", () => {
    expect(() => checkValue("é".repeat(valueBytesMax / 2))).not.toThrow();
    expect(() => checkValue(new Uint8Array(valueBytesMax))).not.toThrow();
  });
});
