import { create, fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { CacheService, GetRequestSchema, LimitExceededSchema, SetCondition, type CallError } from "@distcache/proto";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain JS helper shared with `npm start`
import { startNode, stopNode } from "../../../tools/scripts/local-nodes.mjs";

interface Started {
  pid: number;
  url: string;
  address: string;
  child: ChildProcess;
}

const dataRoot = mkdtempSync(join(tmpdir(), "distcache-api-"));
let node: Started;

async function post(method: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${node.url}/distcache.v1.CacheService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  node = (await startNode({
    nodeId: "api1",
    dataDir: join(dataRoot, "api1"),
    args: ["--value-bytes-max", "4096", "--request-bytes-max", "65536"],
  })) as Started;
});

afterAll(async () => {
  if (node) await stopNode(node);
  rmSync(dataRoot, { recursive: true, force: true });
});

describe("curl-style JSON", () => {
  it("sets, gets and deletes a plain-text value", async () => {
    const set = await post("Set", JSON.stringify({ key: "greeting", text: "hello world" }));
    expect(set.status).toBe(200);
    expect(Number(set.json["version"])).toBeGreaterThan(0);
    const get = await post("Get", JSON.stringify({ key: "greeting" }));
    expect(get.json).toMatchObject({ found: true, text: "hello world", version: set.json["version"] });
    // The position of the state read: the write's entry, every event of it.
    expect(get.json["position"]).toEqual({ shard: expect.any(Number), index: expect.stringMatching(/^\d+$/), ordinal: 4294967295 });
    const del = await post("Delete", JSON.stringify({ key: "greeting" }));
    expect(del.json).toEqual({ deleted: true });
    const gone = await post("Get", JSON.stringify({ key: "greeting" }));
    expect(Object.keys(gone.json)).toEqual(["position"]);
    expect(BigInt(String((gone.json["position"] as { index: string }).index))).toBeGreaterThan(
      BigInt(String((get.json["position"] as { index: string }).index)),
    );
    expect((await post("Delete", JSON.stringify({ key: "greeting" }))).json).toEqual({});
  });

  it("round-trips binary values as base64", async () => {
    await post("Set", JSON.stringify({ key: "bin", value: Buffer.from([0, 1, 2, 255]).toString("base64") }));
    const get = await post("Get", JSON.stringify({ key: "bin" }));
    expect(get.json["value"]).toBe(Buffer.from([0, 1, 2, 255]).toString("base64"));
    expect(get.json["text"]).toBeUndefined();
  });

  it("expires a key with ttl_ms on time", async () => {
    await post("Set", JSON.stringify({ key: "short", text: "x", ttlMs: 400 }));
    const before = await post("Get", JSON.stringify({ key: "short" }));
    expect(before.json["found"]).toBe(true);
    expect(Number(before.json["ttlRemainingMs"])).toBeGreaterThan(0);
    expect(Number(before.json["ttlRemainingMs"])).toBeLessThanOrEqual(400);
    await new Promise((r) => setTimeout(r, 700));
    expect((await post("Get", JSON.stringify({ key: "short" }))).json["found"]).toBeUndefined();
  });

  it("serves Get as a Connect GET request", async () => {
    await post("Set", JSON.stringify({ key: "via-get", text: "v" }));
    const message = encodeURIComponent(JSON.stringify({ key: "via-get", consistency: "CONSISTENCY_EVENTUAL" }));
    const res = await fetch(`${node.url}/distcache.v1.CacheService/Get?encoding=json&message=${message}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ found: true, text: "v" });
  });

  it("rejects bad input with a clear Connect error and stays up", async () => {
    const cases: [string, string, string, RegExp][] = [
      ["malformed JSON", "Set", "{not json", /./],
      ["unknown field", "Set", JSON.stringify({ key: "k", nope: 1 }), /nope/],
      ["negative TTL", "Set", JSON.stringify({ key: "k", text: "v", ttlMs: -5 }), /ttl_ms must be >= 0/],
      ["oversized value", "Set", JSON.stringify({ key: "k", text: "x".repeat(5000) }), /value_bytes_max/],
      ["empty key", "Get", JSON.stringify({ key: "" }), /key must not be empty/],
      ["oversized key", "Get", JSON.stringify({ key: "k".repeat(2000) }), /key_bytes_max/],
      ["empty batch", "MGet", JSON.stringify({ keys: [] }), /keys must not be empty/],
    ];
    for (const [name, method, body, message] of cases) {
      const res = await post(method, body);
      expect(res.status, name).toBe(400);
      expect(res.json["code"], name).toBe("invalid_argument");
      expect(String(res.json["message"]), name).toMatch(message);
    }
    const big = await post("Set", JSON.stringify({ key: "k", text: "x".repeat(70000) }));
    expect(big.json["code"]).toBe("resource_exhausted");
    expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
  });

  it("answers CORS preflights and probes", async () => {
    const pre = await fetch(`${node.url}/distcache.v1.CacheService/Get`, {
      method: "OPTIONS",
      headers: { origin: "http://example.test", "access-control-request-method": "POST" },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("http://example.test");
    expect((await fetch(`${node.url}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    expect(metrics).toMatch(/distcache_requests_total\{method="Set",code="ok"\} \d+/);
    expect(metrics).toMatch(/distcache_store_keys\{shard="0"\}/);
    // A single node elected itself leader of every shard: each term is at least 1.
    expect(metrics).toMatch(/distcache_shard_term\{shard="0"\} [1-9]\d*/);
  });
});

const transports: [string, () => Transport][] = [
  ["connect binary over HTTP/1.1", () => createConnectTransport({ baseUrl: node.url, httpVersion: "1.1" })],
  ["connect JSON over h2c", () => createConnectTransport({ baseUrl: node.url, httpVersion: "2", useBinaryFormat: false })],
  ["gRPC over h2c", () => createGrpcTransport({ baseUrl: node.url })],
  ["gRPC-Web over HTTP/1.1", () => createGrpcWebTransport({ baseUrl: node.url, httpVersion: "1.1" })],
];

describe.each(transports)("%s", (name, transport) => {
  it("sets and gets", async () => {
    const client = createClient(CacheService, transport());
    const key = `proto-${name}`;
    const { version } = await client.set({ key, payload: { case: "value", value: new Uint8Array([1, 2, 3]) } });
    const got = await client.get(create(GetRequestSchema, { key }));
    expect(got.found).toBe(true);
    expect(got.version).toBe(version);
    expect(got.payload).toEqual({ case: "value", value: new Uint8Array([1, 2, 3]) });
  });
});

describe("typed API semantics", () => {
  const client = () => createClient(CacheService, createConnectTransport({ baseUrl: node.url, httpVersion: "1.1" }));

  it("conditional set: if_absent and if_version", async () => {
    const c = client();
    const first = await c.set({ key: "cas", payload: { case: "text", value: "a" }, condition: SetCondition.IF_ABSENT });
    await expect(c.set({ key: "cas", payload: { case: "text", value: "b" }, condition: SetCondition.IF_ABSENT })).rejects.toMatchObject({
      code: Code.AlreadyExists,
    });
    await expect(
      c.set({ key: "cas", payload: { case: "text", value: "b" }, condition: SetCondition.IF_VERSION, expectedVersion: first.version + 1000n }),
    ).rejects.toMatchObject({ code: Code.FailedPrecondition });
    const second = await c.set({ key: "cas", payload: { case: "text", value: "b" }, condition: SetCondition.IF_VERSION, expectedVersion: first.version });
    expect(second.version).toBeGreaterThan(first.version);
  });

  it("counters: incr, overflow and non-integer values", async () => {
    const c = client();
    expect((await c.incr({ key: "ctr", delta: 5n })).value).toBe(5n);
    expect((await c.incr({ key: "ctr", delta: -7n })).value).toBe(-2n);
    expect((await c.get({ key: "ctr" })).payload).toEqual({ case: "text", value: "-2" });
    await c.set({ key: "max", payload: { case: "text", value: "9223372036854775807" } });
    await expect(c.incr({ key: "max", delta: 1n })).rejects.toMatchObject({ code: Code.OutOfRange });
    await c.set({ key: "word", payload: { case: "text", value: "hello" } });
    await expect(c.incr({ key: "word", delta: 1n })).rejects.toMatchObject({ code: Code.FailedPrecondition });
  });

  it("batches across shards keep request order", async () => {
    const c = client();
    const keys = Array.from({ length: 40 }, (_, i) => `batch-${i}`);
    const set = await c.mSet({ items: keys.map((key) => ({ key, payload: { case: "text" as const, value: key.toUpperCase() } })) });
    expect(set.versions).toHaveLength(40);
    const got = await c.mGet({ keys: [...keys, "batch-missing"] });
    expect(got.results.map((r) => (r.payload.case === "text" ? r.payload.value : null))).toEqual([...keys.map((k) => k.toUpperCase()), null]);
    expect((await c.mDelete({ keys: [...keys.slice(0, 10), "batch-missing"] })).deleted).toBe(10);
  });

  it("limit errors carry a LimitExceeded detail", async () => {
    try {
      await client().set({ key: "big", payload: { case: "value", value: new Uint8Array(5000) } });
      expect.unreachable();
    } catch (err) {
      const e = ConnectError.from(err);
      expect(e.code).toBe(Code.InvalidArgument);
      expect(e.findDetails(LimitExceededSchema)).toEqual([expect.objectContaining({ limit: "value_bytes_max", max: 4096n, actual: 5000n })]);
    }
  });

  it("reports per-shard stats", async () => {
    const stats = await client().stats({});
    expect(stats.nodeId).toBe("api1");
    expect(stats.shards).toHaveLength(12);
    expect(stats.total?.keys).toBe(stats.shards.reduce((a, s) => a + (s.store?.keys ?? 0n), 0n));
    expect(stats.total?.hits).toBeGreaterThan(0n);
    // Digests hash every key, so they are computed only on request.
    expect(stats.shards.every((s) => s.digest === "")).toBe(true);
    const withDigests = await client().stats({ includeDigests: true });
    expect(withDigests.shards.every((s) => /^\d+:/.test(s.digest))).toBe(true);
  });

  it("rejects malformed binary with invalid_argument", async () => {
    const res = await fetch(`${node.url}/distcache.v1.CacheService/Set`, {
      method: "POST",
      headers: { "content-type": "application/proto" },
      body: new Uint8Array([0x0a, 0xff, 0xff, 0xff]),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe("invalid_argument");
  });
});

describe("Batch", () => {
  const client = () => createClient(CacheService, createConnectTransport({ baseUrl: node.url, httpVersion: "1.1" }));

  it("answers each call on its own, in call order, as the call alone would", async () => {
    const c = client();
    const { results } = await c.batch({
      calls: [
        { call: { case: "set", value: { key: "b-1", payload: { case: "text", value: "one" } } } },
        { call: { case: "set", value: { key: "b-2", payload: { case: "value", value: new Uint8Array(5000) } } } },
        { call: { case: "incr", value: { key: "b-ctr", delta: 3n } } },
        { call: { case: "get", value: { key: "" } } },
        { call: { case: "delete", value: { key: "b-none" } } },
        {},
      ],
    });
    expect(results.map((r) => r.result.case)).toEqual(["set", "error", "incr", "error", "delete", "error"]);
    expect(results[0]!.result.case === "set" && results[0]!.result.value.version).toBeGreaterThan(0n);
    const tooBig = results[1]!.result.value as CallError;
    expect(tooBig).toMatchObject({ code: "invalid_argument", message: expect.stringContaining("value_bytes_max") });
    expect(tooBig.details.map((d) => d.type)).toEqual(["distcache.v1.LimitExceeded"]);
    expect(fromBinary(LimitExceededSchema, tooBig.details[0]!.value)).toMatchObject({ limit: "value_bytes_max", max: 4096n, actual: 5000n });
    expect(results[2]!.result.value).toMatchObject({ value: 3n });
    expect(results[3]!.result.value).toMatchObject({ code: "invalid_argument" });
    expect(results[4]!.result.value).toMatchObject({ deleted: false });
    expect(results[5]!.result.value).toMatchObject({ code: "invalid_argument", message: "calls[5] sets no call (one of get, set, delete, incr)" });
    // The write the batch did holds; the refused one changed nothing.
    expect((await c.get({ key: "b-1" })).payload).toEqual({ case: "text", value: "one" });
    expect((await c.get({ key: "b-2" })).found).toBe(false);
  });

  it("works over curl-style JSON, and refuses an empty or oversized batch as a whole", async () => {
    const set = await post("Batch", JSON.stringify({ calls: [{ set: { key: "bj", text: "x" } }, { get: { key: "bj" } }] }));
    expect(set.status).toBe(200);
    expect(set.json["results"]).toEqual([{ set: { version: expect.any(String) } }, { get: expect.any(Object) }]);
    const empty = await post("Batch", JSON.stringify({ calls: [] }));
    expect(empty).toMatchObject({ status: 400, json: { code: "invalid_argument", message: "calls must not be empty" } });
    const many = await post("Batch", JSON.stringify({ calls: Array.from({ length: 1001 }, () => ({ get: { key: "bj" } })) }));
    expect(many).toMatchObject({ status: 400, json: { code: "invalid_argument", message: expect.stringContaining("batch_keys_max") } });
    const unknown = await post("Batch", JSON.stringify({ calls: [{ mget: { keys: ["bj"] } }] }));
    expect(unknown).toMatchObject({ status: 400, json: { code: "invalid_argument" } });
  });
});
