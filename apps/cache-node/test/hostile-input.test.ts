import { create, toBinary } from "@bufbuild/protobuf";
import { MDeleteRequestSchema, SetCondition, SetRequestSchema } from "@distcache/proto";
import type { ChildProcess } from "node:child_process";
import http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain JS helper shared with `npm start`
import { startNode, stopNode } from "../../../tools/scripts/local-nodes.mjs";

// Input a client controls never reaches an assertion in apply: each request below is
// refused at the edge with invalid_argument, on the fast path and the stock Connect
// handler alike, and the node keeps serving (docs/api-errors.md).

type Node = { pid: number; url: string; child: ChildProcess };
const dataRoot = mkdtempSync(join(tmpdir(), "distcache-hostile-"));
const nodes: Record<string, Node> = {};

beforeAll(async () => {
  const [fast, stock] = (await Promise.all([
    startNode({ nodeId: "fast", dataDir: join(dataRoot, "fast") }),
    startNode({ nodeId: "stock", dataDir: join(dataRoot, "stock"), args: ["--no-fast-path"] }),
  ])) as [Node, Node];
  Object.assign(nodes, { fast, stock });
});

afterAll(async () => {
  await Promise.all(Object.values(nodes).map((n) => stopNode(n)));
  rmSync(dataRoot, { recursive: true, force: true });
});

const json = (body: unknown) => ({ contentType: "application/json", body: JSON.stringify(body) as string | Uint8Array });
const proto = (bytes: Uint8Array) => ({ contentType: "application/proto", body: bytes as string | Uint8Array });
const header = (init: object) => ({ header: { noForward: false, ...init } });

const REFUSED: [string, string, { contentType: string; body: string | Uint8Array }][] = [
  [
    "Set",
    "IF_VERSION above 2^53 - 1 (the one-request poison pill)",
    json({ key: "k", text: "v", condition: "SET_CONDITION_IF_VERSION", expectedVersion: "9007199254740993" }),
  ],
  ["Set", "expected_version with IF_ABSENT", json({ key: "k", text: "v", condition: "SET_CONDITION_IF_ABSENT", expectedVersion: "3" })],
  ["Set", "expected_version with no condition", json({ key: "k", text: "v", expectedVersion: "1" })],
  ["Set", "an unknown condition number", json({ key: "k", text: "v", condition: 7 })],
  [
    "Set",
    "binary expected_version 2^64 - 1",
    proto(
      toBinary(
        SetRequestSchema,
        create(SetRequestSchema, { key: "k", payload: { case: "text", value: "v" }, condition: SetCondition.IF_VERSION, expectedVersion: 2n ** 64n - 1n }),
      ),
    ),
  ],
  ["Set", "a session id of 200,000 bytes", json({ key: "k", text: "v", ...header({ sessionId: "s".repeat(200_000), sequence: "1" }) })],
  ["Set", "a sequence above 2^53 - 1", json({ key: "k", text: "v", ...header({ sessionId: "s", sequence: "9007199254740993" }) })],
  ["Set", "a sequence of 0 in a session", json({ key: "k", text: "v", ...header({ sessionId: "s", sequence: "0" }) })],
  ["Set", "acked_sequence at the sequence", json({ key: "k", text: "v", ...header({ sessionId: "s", sequence: "4", ackedSequence: "4" }) })],
  ["Set", "a sequence without a session id", json({ key: "k", text: "v", ...header({ sequence: "4" }) })],
  ["Set", "a TTL above 2^63", json({ key: "k", text: "v", ttlMs: "18446744073709551615" })],
  ["Get", "an unknown consistency number", json({ key: "k", consistency: 99 })],
  ["Get", "an unknown consistency name", json({ key: "k", consistency: "CONSISTENCY_MAYBE" })],
  ["MGet", "an unknown consistency number", json({ keys: ["a"], consistency: 3 })],
  [
    "MSet",
    "a key twice",
    json({
      items: [
        { key: "a", text: "1" },
        { key: "b", text: "2" },
        { key: "a", text: "3" },
      ],
    }),
  ],
  ["MDelete", "a key twice", json({ keys: ["a", "b", "a"] })],
  ["MDelete", "a key twice, binary", proto(toBinary(MDeleteRequestSchema, create(MDeleteRequestSchema, { keys: ["x", "x"] })))],
  ["Delete", "an oversized session id", json({ key: "k", ...header({ sessionId: "é".repeat(100), sequence: "1" }) })],
];

async function call(node: Node, method: string, request: { contentType: string; body: string | Uint8Array }) {
  const res = await fetch(`${node.url}/distcache.v1.CacheService/${method}`, {
    method: "POST",
    headers: { "content-type": request.contentType },
    body: request.body as BodyInit,
  });
  return { status: res.status, json: (await res.json()) as { code?: string; message?: string } };
}

describe.each(["fast", "stock"])("on the %s path", (path) => {
  it.each(REFUSED)("%s with %s is invalid_argument", async (method, _name, request) => {
    const node = nodes[path]!;
    const answer = await call(node, method, request);
    expect(answer.status, JSON.stringify(answer.json)).toBe(400);
    expect(answer.json.code).toBe("invalid_argument");
    expect(answer.json.message).toBeTruthy();
  });

  it("keeps serving after every refusal, and MGet answers a repeated key at each position", async () => {
    const node = nodes[path]!;
    expect((await call(node, "Set", json({ key: "a", text: "1" }))).status).toBe(200);
    const got = await call(node, "MGet", json({ keys: ["a", "b", "a"] }));
    expect(got.json).toEqual({
      results: [
        { found: true, text: "1", version: expect.any(String), position: expect.any(Object) },
        { position: expect.any(Object) },
        { found: true, text: "1", version: expect.any(String), position: expect.any(Object) },
      ],
    });
    // The largest valid expected version is accepted (and simply does not match).
    const match = await call(node, "Set", json({ key: "a", text: "2", condition: "SET_CONDITION_IF_VERSION", expectedVersion: "9007199254740991" }));
    expect(match.json.code).toBe("failed_precondition");
    // A sequence number reused by another operation gets invalid_argument, not the other's result.
    const session = header({ sessionId: `reuse-${path}`, sequence: "1" });
    expect((await call(node, "Delete", json({ key: "a", ...session }))).status).toBe(200);
    for (const [method, body] of [
      ["Set", { key: "a", text: "3" }],
      ["Incr", { key: "a", delta: "1" }],
      ["MSet", { items: [{ key: "a", text: "4" }] }],
    ] as const) {
      const reused = await call(node, method, json({ ...body, ...session }));
      expect(reused.json.code, method).toBe("invalid_argument");
      expect(reused.json.message).toMatch(/already used by another operation/);
    }
  });

  it("refuses an MGet whose answer would pass --response-bytes-max resource_exhausted, before building it", async () => {
    // 100 copies of one 1 MiB value would be a 100 MiB answer (1,000 copies once built a 1 GB one).
    const node = nodes[path]!;
    const value = Buffer.alloc(1024 * 1024, 7).toString("base64");
    expect((await call(node, "Set", json({ key: "big", value }))).status).toBe(200);
    const refused = await call(node, "MGet", json({ keys: Array.from({ length: 100 }, () => "big") }));
    expect(refused.status).toBe(429);
    expect(refused.json.code).toBe("resource_exhausted");
    expect(refused.json.message).toMatch(/response_bytes_max/);
    const fits = await fetch(`${node.url}/distcache.v1.CacheService/MGet`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ keys: ["big", "big", "a"] }),
    });
    expect(fits.status).toBe(200);
    expect(((await fits.json()) as { results: unknown[] }).results).toHaveLength(3);
  });
});

describe("oversized bodies on a kept-alive HTTP/1.1 connection", () => {
  it.each(["fast", "stock"])(
    "%s node: answers the next request on the connection after refusing a gRPC-Web or Connect-streaming body over the limit",
    async (path) => {
      const port = Number(new URL(nodes[path]!.url).port);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const send = (contentType: string, body: Buffer | string, method = "Set") =>
        new Promise<string>((resolve) => {
          const req = http.request(
            {
              host: "127.0.0.1",
              port,
              path: `/distcache.v1.CacheService/${method}`,
              method: "POST",
              headers: { "content-type": contentType },
              agent,
              timeout: 3000,
            },
            (res) => {
              const chunks: Buffer[] = [];
              res.on("data", (c: Buffer) => chunks.push(c));
              res.on("end", () => resolve(`${res.statusCode} ${Buffer.concat(chunks).toString("latin1")}`));
            },
          );
          req.on("timeout", () => req.destroy(new Error("no answer")));
          req.on("error", (err) => resolve(`error ${err.message}`));
          req.end(body);
        });
      // 4 MiB + 21 bytes: the envelope declares a message above --request-bytes-max (4 MiB).
      const big = Buffer.alloc(4 * 1024 * 1024 + 21);
      big.writeUInt32BE(big.length - 5, 1);
      // Connect streaming: Watch, a server-streaming method.
      for (const [contentType, method] of [
        ["application/grpc-web+proto", "Set"],
        ["application/connect+proto", "Watch"],
      ] as const) {
        expect(await send(contentType, big, method)).toMatch(/^200 .*(grpc-status: 8|resource_exhausted)/s);
        expect(await send("application/json", JSON.stringify({ key: "after-big", text: contentType }))).toMatch(/^200 \{"version"/);
      }
      agent.destroy();
    },
  );
});
