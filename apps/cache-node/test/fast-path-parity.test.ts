import { create, toBinary } from "@bufbuild/protobuf";
import { BatchRequestSchema, GetRequestSchema, SetRequestSchema } from "@distcache/proto";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
// @ts-expect-error plain JS helper shared with `npm start`
import { startNode, stopNode } from "../../../tools/scripts/local-nodes.mjs";

type Node = { pid: number; url: string; child: ChildProcess };
const dataRoot = mkdtempSync(join(tmpdir(), "distcache-parity-"));
let fast: Node;
let stock: Node;

beforeAll(async () => {
  // Reads answer their shard's position (log index): no idle entries, access hints or time entries, so both nodes' logs stay in step with the requests.
  const config = join(dataRoot, "config.json");
  writeFileSync(config, JSON.stringify({ idleEntryIntervalMs: 3_600_000, accessHintIntervalMs: 3_600_000, readStampLagMsMax: 60_000 }));
  const args = ["--config", config, "--value-bytes-max", "1024", "--request-bytes-max", "8192"];
  [fast, stock] = (await Promise.all([
    startNode({ nodeId: "fast", dataDir: join(dataRoot, "fast"), args }),
    startNode({ nodeId: "stock", dataDir: join(dataRoot, "stock"), args: [...args, "--no-fast-path"] }),
  ])) as [Node, Node];
});

afterAll(async () => {
  await Promise.all([fast, stock].filter(Boolean).map((n) => stopNode(n)));
  rmSync(dataRoot, { recursive: true, force: true });
});

const json = "application/json";
const proto = "application/proto";
const bin = (schema: Parameters<typeof create>[0], init: object) => toBinary(schema, create(schema, init as never));

/** Requests that both handlers must answer identically, in order (writes change state). */
const requests: [string, string, string | Uint8Array, Record<string, string>?][] = [
  ["Set", json, JSON.stringify({ key: "a", text: "hello" })],
  ["Get", json, JSON.stringify({ key: "a", consistency: "CONSISTENCY_EVENTUAL" })],
  ["Get", json, JSON.stringify({ key: "missing" })],
  ["Set", proto, bin(SetRequestSchema, { key: "b", payload: { case: "value", value: new Uint8Array([1, 2]) } })],
  ["Get", proto, bin(GetRequestSchema, { key: "b" })],
  ["Get", "application/json; charset=utf-8", JSON.stringify({ key: "b" })],
  ["Incr", json, JSON.stringify({ key: "n", delta: "3" })],
  ["Incr", json, JSON.stringify({ key: "a", delta: "1" })],
  ["Set", json, JSON.stringify({ key: "a", text: "x", condition: "SET_CONDITION_IF_ABSENT" })],
  ["Set", json, JSON.stringify({ key: "a", text: "x", ttlMs: -1 })],
  ["Set", json, JSON.stringify({ key: "a", text: "x".repeat(2000) })],
  ["Set", json, JSON.stringify({ key: "a", text: "x".repeat(9000) })],
  ["Set", json, JSON.stringify({ key: "a", bogus: true })],
  ["Set", json, JSON.stringify({ key: 5 })],
  ["Set", json, "{not json"],
  ["Get", json, ""],
  ["MGet", json, JSON.stringify({ keys: ["a", "b", "n", "zz"] })],
  [
    "MSet",
    json,
    JSON.stringify({
      items: [
        { key: "c", text: "1" },
        { key: "d", value: "AQI=" },
      ],
    }),
  ],
  ["MDelete", json, JSON.stringify({ keys: ["c", "d", "nope"] })],
  ["Delete", json, JSON.stringify({ key: "a" })],
  [
    "Batch",
    json,
    JSON.stringify({ calls: [{ set: { key: "e", text: "1" } }, { get: { key: "b" } }, { incr: { key: "f", delta: "1" } }, { delete: { key: "" } }, {}] }),
  ],
  [
    "Batch",
    proto,
    bin(BatchRequestSchema, { calls: [{ call: { case: "get", value: { key: "e" } } }, { call: { case: "set", value: { key: "e", ttlMs: -5n } } }] }),
  ],
  ["Batch", json, JSON.stringify({ calls: [] })],
  ["Set", json, "{}", { "connect-timeout-ms": "5000" }],
  ["Nope", json, "{}"],
];

it("the fast path answers exactly as the stock Connect handler", async () => {
  for (const [method, contentType, body, headers] of requests) {
    const send = async (node: Node) => {
      const res = await fetch(`${node.url}/distcache.v1.CacheService/${method}`, {
        method: "POST",
        headers: { "content-type": contentType, ...headers },
        body: body as BodyInit,
      });
      const bytes = new Uint8Array(await res.arrayBuffer());
      return { status: res.status, contentType: res.headers.get("content-type"), body: Buffer.from(bytes).toString("base64") };
    };
    const [a, b] = [await send(fast), await send(stock)];
    expect(a, `${method} ${String(body).slice(0, 60)}`).toEqual(b);
  }
});
