import { Code, ConnectError } from "@connectrpc/connect";
import { LimitExceededSchema } from "@distcache/proto";
import { describe, expect, it } from "vitest";
import { createCacheClient, type CacheClient } from "./cache-client.js";
import { toCacheError } from "./error-mapping.js";
import {
  type CacheError,
  CounterOverflowError,
  IndeterminateWriteError,
  InvalidArgumentError,
  KeyExistsError,
  NotACounterError,
  ResourceExhaustedError,
  ServerError,
  SessionExpiredError,
  VersionMismatchError,
} from "./errors.js";
import { FakeCluster, fakeTime, sessionExpired } from "./testing/fake-cluster.js";

function setup(options: { batchKeysMax?: number } = {}) {
  const cluster = new FakeCluster();
  const time = fakeTime();
  const client = createCacheClient({ transport: cluster.transport, seeds: [cluster.urlOf("n1")], clock: time.clock, sleep: time.sleep, ...options });
  return { cluster, client };
}

type ErrorClass = abstract new (...args: never[]) => CacheError;

const KEY = "some-key";
const limit = new ConnectError("value is 9 bytes, above the limit of 8 (value_bytes_max)", Code.InvalidArgument, undefined, [
  { desc: LimitExceededSchema, value: { limit: "value_bytes_max", max: 8n, actual: 9n } },
]);

/** [server method, SDK call, the node's error, expected class, expected code] */
const SERVER_ERRORS: [string, (c: CacheClient) => Promise<unknown>, ConnectError, ErrorClass, Code][] = [
  ["set", (c) => c.set(KEY, "v"), limit, InvalidArgumentError, Code.InvalidArgument],
  ["get", (c) => c.get(KEY), new ConnectError("key must not be empty", Code.InvalidArgument), InvalidArgumentError, Code.InvalidArgument],
  ["set", (c) => c.create(KEY, "v"), new ConnectError("exists", Code.AlreadyExists), KeyExistsError, Code.AlreadyExists],
  ["set", (c) => c.update(KEY, "v", 3), new ConnectError("at version 4", Code.FailedPrecondition), VersionMismatchError, Code.FailedPrecondition],
  ["incr", (c) => c.incr(KEY), new ConnectError("not an integer", Code.FailedPrecondition), NotACounterError, Code.FailedPrecondition],
  ["incr", (c) => c.incr(KEY), new ConnectError("overflows", Code.OutOfRange), CounterOverflowError, Code.OutOfRange],
  ["set", (c) => c.set(KEY, "v"), new ConnectError("body too large", Code.ResourceExhausted), ResourceExhaustedError, Code.ResourceExhausted],
  ["mGet", (c) => c.mget([KEY]), new ConnectError("body too large", Code.ResourceExhausted), ResourceExhaustedError, Code.ResourceExhausted],
  ["get", (c) => c.get(KEY), new ConnectError("internal error: boom", Code.Internal), ServerError, Code.Internal],
  ["set", (c) => c.set(KEY, "v"), new ConnectError("internal error: boom", Code.Internal), ServerError, Code.Internal],
  ["delete", (c) => c.delete(KEY), new ConnectError("not here", Code.Unimplemented), ServerError, Code.Unimplemented],
  ["get", (c) => c.get(KEY), new ConnectError("no", Code.PermissionDenied), ServerError, Code.PermissionDenied],
  // A write whose outcome is unknown is resent until its deadline; with 1 ms there is no time to.
  ["delete", (c) => c.delete(KEY, { timeoutMs: 1 }), new ConnectError("timed out", Code.DeadlineExceeded), IndeterminateWriteError, Code.DeadlineExceeded],
  ["mDelete", (c) => c.mdelete([KEY], { timeoutMs: 1 }), new ConnectError("lost", Code.Unavailable), IndeterminateWriteError, Code.Unavailable],
];

describe("server errors map to one class each", () => {
  it.each(SERVER_ERRORS)("%s failing with %#: class and code", async (method, call, error, expected, code) => {
    const { cluster, client } = setup();
    cluster.failNext(cluster.leaderOf(cluster.ring.shardFor(KEY))!, method, error);
    const err = await call(client).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(expected);
    expect((err as CacheError).code).toBe(code);
    expect((err as CacheError).cause).toBeInstanceOf(ConnectError);
    expect(cluster.callsTo(method)).toHaveLength(1);
  });

  it("keeps the LimitExceeded detail's fields", async () => {
    const { client } = setup();
    const err = await client.set("k", "x".repeat(2000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).limitExceeded).toEqual({ limit: "value_bytes_max", max: 1024n, actual: 2000n });
  });

  it("names the key of a failed condition, from real conflicts", async () => {
    const { client } = setup();
    const v1 = await client.create("k", "a");
    await expect(client.create("k", "b")).rejects.toMatchObject({ name: "KeyExistsError", key: "k" });
    await expect(client.update("k", "b", v1 + 1n)).rejects.toMatchObject({ name: "VersionMismatchError", key: "k" });
    expect(await client.update("k", "b", v1)).toBeGreaterThan(v1);
    await expect(client.incr("k")).rejects.toMatchObject({ name: "NotACounterError", key: "k" });
    await client.set("n", (2n ** 63n - 1n).toString());
    await expect(client.incr("n")).rejects.toMatchObject({ name: "CounterOverflowError", key: "n" });
    expect(await client.incr("m", -3)).toBe(-3n);
    expect(await client.update("fresh", "v", 0)).toBeGreaterThan(0n);
  });
});

describe("SessionExpired", () => {
  it("maps a write's refusal to SessionExpiredError: indeterminate, failed_precondition, with shard and session", () => {
    for (const operation of ["set", "mset", "delete", "mdelete", "incr"] as const) {
      const err = toCacheError(sessionExpired(3, "s-old"), { operation, key: "k" });
      expect(err).toBeInstanceOf(SessionExpiredError);
      expect(err).toBeInstanceOf(IndeterminateWriteError);
      expect(err).toMatchObject({ code: Code.FailedPrecondition, shard: 3, sessionId: "s-old", name: "SessionExpiredError" });
      expect(err.message).toMatch(/may or may not have taken effect/);
    }
  });

  it("a read answered with SessionExpired is a server fault, reported as is", async () => {
    expect(toCacheError(sessionExpired(3, "s"), { operation: "get", key: "k" })).toBeInstanceOf(ServerError);
    const { cluster, client } = setup();
    cluster.failNext(cluster.leaderOf(cluster.ring.shardFor(KEY))!, "get", sessionExpired(0, "s"));
    await expect(client.get(KEY)).rejects.toBeInstanceOf(ServerError);
    expect(cluster.callsTo("get")).toHaveLength(1);
  });
});
