import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { CacheService, ClusterService, GetRequestSchema, SetRequestSchema } from "@distcache/proto";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain JS helper shared with `npm start`
import { startNode, stopNode } from "../../../tools/scripts/local-nodes.mjs";

interface Started {
  pid: number;
  url: string;
  address: string;
  child: ChildProcess;
}

const BODY_TIMEOUT_MS = 1000;
const dataRoot = mkdtempSync(join(tmpdir(), "distcache-edge-"));
let node: Started;
let port: number;

beforeAll(async () => {
  node = (await startNode({
    nodeId: "edge1",
    dataDir: join(dataRoot, "edge1"),
    args: ["--inflight-requests-max", "1", "--body-timeout-ms", String(BODY_TIMEOUT_MS)],
  })) as Started;
  port = Number(node.address.split(":").pop());
});

afterAll(async () => {
  if (node) await stopNode(node);
  rmSync(dataRoot, { recursive: true, force: true });
});

const GET_PATH = "/distcache.v1.CacheService/Get";
/** A GetRequest whose key field promises 10 bytes and carries 2. */
const TRUNCATED = Buffer.from([0x0a, 0x0a, 0x61, 0x62]);
/** A GetRequest whose key is not UTF-8. */
const BAD_UTF8 = Buffer.from([0x0a, 0x02, 0xff, 0xfe]);

function envelope(flags: number, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + payload.length);
  out[0] = flags;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, 5);
  return out;
}

/** One raw gRPC call over h2c: the status from the trailers (or a trailers-only response). */
async function rawGrpc(body: Buffer, headers: http2.OutgoingHttpHeaders = {}): Promise<{ status: string | undefined; message: string }> {
  const session = http2.connect(node.url);
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({ ":method": "POST", ":path": GET_PATH, "content-type": "application/grpc", te: "trailers", ...headers });
      let status: string | undefined;
      let message = "";
      const take = (h: http2.IncomingHttpHeaders) => {
        if (h["grpc-status"] !== undefined) {
          status = String(h["grpc-status"]);
          message = decodeURIComponent(String(h["grpc-message"] ?? ""));
        }
      };
      stream.on("response", take);
      stream.on("trailers", take);
      stream.on("data", () => undefined);
      stream.on("error", reject);
      stream.on("close", () => resolve({ status, message }));
      stream.end(body);
    });
  } finally {
    session.close();
  }
}

/** One gRPC-Web call over HTTP/1.1: the status from its trailer frame. */
async function rawGrpcWeb(body: Buffer, headers: Record<string, string> = {}): Promise<{ status: string | undefined; trailer: string }> {
  const res = await fetch(`${node.url}${GET_PATH}`, {
    method: "POST",
    headers: { "content-type": "application/grpc-web+proto", ...headers },
    body: new Uint8Array(body),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  expect(res.status).toBe(200);
  expect(bytes[0]).toBe(0x80);
  const trailer = bytes.subarray(5).toString("utf8");
  return { status: /grpc-status: (\d+)/.exec(trailer)?.[1], trailer };
}

describe("malformed binary on the stock handler", () => {
  it("gRPC: a truncated message, invalid UTF-8 and broken envelopes are invalid_argument", async () => {
    const cases: [string, Buffer, http2.OutgoingHttpHeaders?][] = [
      ["truncated message", envelope(0, TRUNCATED)],
      ["invalid UTF-8 in a string", envelope(0, BAD_UTF8)],
      ["incomplete envelope", Buffer.from([1, 2, 3])],
      ["envelope longer than the body", Buffer.concat([Buffer.from([0, 0, 0, 0, 50]), TRUNCATED])],
      ["compressed flag without grpc-encoding", envelope(1, TRUNCATED)],
      ["gzip of a truncated message", envelope(1, gzipSync(TRUNCATED)), { "grpc-encoding": "gzip" }],
      ["compressed flag over bytes that are not gzip", envelope(1, Buffer.from("not gzip")), { "grpc-encoding": "gzip" }],
    ];
    for (const [name, body, headers] of cases) {
      const res = await rawGrpc(body, headers);
      expect(res.status, name).toBe(String(Code.InvalidArgument));
      expect(res.message, name).not.toBe("");
    }
  });

  it("gRPC-Web: a truncated message, invalid UTF-8 and a broken envelope are invalid_argument", async () => {
    for (const body of [envelope(0, TRUNCATED), envelope(0, BAD_UTF8), Buffer.from([1, 2, 3]), envelope(1, TRUNCATED)]) {
      const res = await rawGrpcWeb(body);
      expect(res.status, res.trailer).toBe(String(Code.InvalidArgument));
    }
    expect((await rawGrpcWeb(envelope(0, TRUNCATED))).trailer).toContain("parse%20binary");
  });

  it("gRPC-Web: broken compression and undecodable messages are invalid_argument whatever encodings the call names", async () => {
    const cases: [string, Buffer, Record<string, string>][] = [
      ["compressed flag over bytes that are not gzip", envelope(1, Buffer.from("not gzip")), { "grpc-encoding": "gzip" }],
      ["compressed flag over bytes that are not brotli", envelope(1, Buffer.from("not brotli")), { "grpc-encoding": "br" }],
      ["gzip of a truncated message", envelope(1, gzipSync(TRUNCATED)), { "grpc-encoding": "gzip" }],
      ["a truncated message, gzip accepted for the answer", envelope(0, TRUNCATED), { "grpc-accept-encoding": "gzip,,," }],
      ["broken gzip, gzip accepted for the answer", envelope(1, Buffer.from("xx")), { "grpc-encoding": "gzip", "grpc-accept-encoding": "gzip" }],
    ];
    for (const [name, body, headers] of cases) {
      const res = await rawGrpcWeb(body, headers);
      expect(res.status, `${name}: ${res.trailer}`).toBe(String(Code.InvalidArgument));
    }
  });

  it("Connect GET: a truncated binary message is invalid_argument", async () => {
    const message = encodeURIComponent(TRUNCATED.toString("base64"));
    const res = await fetch(`${node.url}${GET_PATH}?encoding=proto&base64=1&message=${message}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: "invalid_argument", message: expect.stringContaining("parse binary") });
  });

  it("still serves well-formed calls in every protocol", async () => {
    for (const transport of [createGrpcTransport({ baseUrl: node.url }), createGrpcWebTransport({ baseUrl: node.url, httpVersion: "1.1" })]) {
      const client = createClient(CacheService, transport);
      const { version } = await client.set({ key: "edge", payload: { case: "text", value: "v" } });
      expect((await client.get(create(GetRequestSchema, { key: "edge" }))).version).toBe(version);
    }
    const res = await fetch(`${node.url}${GET_PATH}?encoding=json&message=${encodeURIComponent(JSON.stringify({ key: "edge" }))}`);
    expect(await res.json()).toMatchObject({ found: true, text: "v" });
  });
});

describe("error messages", () => {
  it("answers a 70,000-character node id over gRPC with invalid_argument and a message that fits a header", async () => {
    const client = createClient(ClusterService, createGrpcTransport({ baseUrl: node.url }));
    for (const toNodeId of ["n".repeat(70_000), "bad id", "n\ud800"]) {
      const err = await client.transferLeader({ shard: 0, toNodeId }).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(err?.code, err?.rawMessage).toBe(Code.InvalidArgument);
      expect(err!.rawMessage).toMatch(/to_node_id is not a node id/);
      expect(err!.rawMessage.length).toBeLessThan(200);
    }
  });
});

describe("caller deadlines", () => {
  it("serves a call whose deadline is longer than a timer can hold (24.8 days) as one that long, in every protocol", async () => {
    const set = (key: string) => toBinary(SetRequestSchema, create(SetRequestSchema, { key, payload: { case: "text", value: "far" } }));
    const grpcWeb = await fetch(`${node.url}/distcache.v1.CacheService/Set`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", "grpc-timeout": "99999999H" },
      body: new Uint8Array(envelope(0, set("far-grpc-web"))),
    });
    expect(Buffer.from(await grpcWeb.arrayBuffer()).toString("latin1")).toMatch(/grpc-status: 0/);
    const grpc = await rawGrpc(envelope(0, toBinary(GetRequestSchema, create(GetRequestSchema, { key: "far-grpc-web" }))), { "grpc-timeout": "99999999H" });
    expect(grpc.status, grpc.message).toBe("0");
    const variants: Record<string, string>[] = [
      { "content-type": "application/proto" },
      { "content-type": "application/proto", "content-encoding": "identity", "connect-protocol-version": "1" },
    ];
    for (const headers of variants) {
      const connect = await fetch(`${node.url}/distcache.v1.CacheService/Set`, {
        method: "POST",
        headers: { ...headers, "connect-timeout-ms": "9999999999" },
        body: new Uint8Array(set("far-connect")),
      });
      expect(connect.status, await connect.clone().text()).toBe(200);
    }
    const get = await fetch(`${node.url}${GET_PATH}?encoding=json&message=${encodeURIComponent(JSON.stringify({ key: "far-connect" }))}`, {
      headers: { "connect-timeout-ms": "9999999999" },
    });
    expect(await get.json()).toMatchObject({ found: true, text: "far" });
  });
});

describe("body deadline", () => {
  it("answers an HTTP/2 call whose body never ends deadline_exceeded, and does not run it", async () => {
    const session = http2.connect(node.url);
    try {
      const cases: [string, string, Uint8Array][] = [
        ["fast path", "application/proto", toBinary(SetRequestSchema, create(SetRequestSchema, { key: "cut-fast", payload: { case: "text", value: "x" } }))],
        [
          "stock handler",
          "application/grpc",
          envelope(0, toBinary(SetRequestSchema, create(SetRequestSchema, { key: "cut-stock", payload: { case: "text", value: "x" } }))),
        ],
      ];
      for (const [name, contentType, body] of cases) {
        // The whole message, but never END_STREAM: the call must not take effect.
        const answer = await new Promise<{ headers: http2.IncomingHttpHeaders; body: string; afterMs: number }>((resolve, reject) => {
          const started = performance.now();
          const stream = session.request({ ":method": "POST", ":path": "/distcache.v1.CacheService/Set", "content-type": contentType, te: "trailers" });
          let headers: http2.IncomingHttpHeaders = {};
          let data = "";
          stream.on("response", (h) => (headers = h));
          stream.on("data", (c: Buffer) => (data += c.toString("latin1")));
          stream.on("error", reject);
          stream.on("close", () => resolve({ headers, body: data, afterMs: performance.now() - started }));
          stream.write(body);
        });
        expect(answer.afterMs, name).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS * 0.9);
        if (contentType === "application/grpc") expect(answer.headers["grpc-status"], name).toBe(String(Code.DeadlineExceeded));
        else expect(JSON.parse(answer.body), name).toMatchObject({ code: "deadline_exceeded" });
      }
      const client = createClient(CacheService, createConnectTransport({ baseUrl: node.url, httpVersion: "1.1" }));
      for (const key of ["cut-fast", "cut-stock"]) expect((await client.get({ key })).found, key).toBe(false);
    } finally {
      session.close();
    }
  });
});

describe("in-flight bound", () => {
  it("answers calls over --inflight-requests-max resource_exhausted on every protocol, and recovers", async () => {
    // Hold the node's only slot with a request whose body never finishes.
    const holder = net.connect(port, "127.0.0.1");
    let held = "";
    holder.on("data", (d: Buffer) => (held += d.toString("latin1")));
    const holderClosed = new Promise<void>((r) => holder.once("close", () => r()));
    holder.write(`POST /distcache.v1.CacheService/Set HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"key":`);
    const started = performance.now();
    // The request counts from its headers; wait until the node has them (/metrics is outside
    // the bound, so asking takes no slot the held request could lose to).
    await expect
      .poll(async () => /^distcache_inflight_requests (\d+)$/m.exec(await (await fetch(`${node.url}/metrics`)).text())?.[1], { timeout: 500, interval: 20 })
      .toBe("1");
    expect((await fetch(`${node.url}${GET_PATH}`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"key":"k"}' })).status).toBe(429);

    const overloaded = (err: unknown) => {
      const e = ConnectError.from(err);
      expect(e.code).toBe(Code.ResourceExhausted);
      expect(e.rawMessage).toContain("--inflight-requests-max");
    };
    const clients = [
      createClient(CacheService, createConnectTransport({ baseUrl: node.url, httpVersion: "1.1" })),
      createClient(CacheService, createConnectTransport({ baseUrl: node.url, httpVersion: "2", useBinaryFormat: false })),
      createClient(CacheService, createGrpcTransport({ baseUrl: node.url })),
      createClient(CacheService, createGrpcWebTransport({ baseUrl: node.url, httpVersion: "1.1" })),
    ];
    for (const client of clients) {
      await client.get({ key: "k" }).then(() => expect.unreachable("answered above the bound"), overloaded);
    }
    const get = await fetch(`${node.url}${GET_PATH}?encoding=json&message=${encodeURIComponent('{"key":"k"}')}`);
    expect(get.status).toBe(429);
    expect(await get.json()).toMatchObject({ code: "resource_exhausted" });
    // Probes are outside the bound.
    expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
    expect(performance.now() - started).toBeLessThan(BODY_TIMEOUT_MS);

    // The held request misses its body deadline: it is answered and its connection closed,
    // which frees the slot.
    await holderClosed;
    expect(held).toMatch(/^HTTP\/1\.1 504 /);
    expect(held).toContain("deadline_exceeded");
    for (const client of clients) expect((await client.get({ key: "k" })).found).toBe(false);
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    expect(Number(/distcache_refused_total\{bound="inflight_requests_max"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(5);
    // /metrics itself is outside the bound, so nothing is in flight while it renders.
    expect(metrics).toMatch(/^distcache_inflight_requests 0$/m);
    expect(metrics).toMatch(/^distcache_client_connections \d+$/m);
  });
});
