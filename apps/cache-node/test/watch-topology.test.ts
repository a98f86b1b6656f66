import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { ClusterService } from "@distcache/proto";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain JS helper shared with `npm start`
import { startNode, stopNode } from "../../../tools/scripts/local-nodes.mjs";

interface Started {
  pid: number;
  url: string;
  child: ChildProcess;
}

const dataRoot = mkdtempSync(join(tmpdir(), "distcache-watch-"));
let node: Started;

beforeAll(async () => {
  node = (await startNode({
    nodeId: "w1",
    dataDir: join(dataRoot, "w1"),
    args: ["--streams-max", "3", "--connection-streams-max", "2", "--stream-progress-ms", "50", "--stream-queue-max", "3"],
  })) as Started;
});

afterAll(async () => {
  if (node) await stopNode(node);
  rmSync(dataRoot, { recursive: true, force: true });
});

/** Opens a WatchTopology stream and resolves with its first message, keeping the stream open until `stop` aborts. */
async function openWatch(transport: Transport, stop: AbortController) {
  const stream = createClient(ClusterService, transport).watchTopology({}, { signal: stop.signal });
  const iterator = stream[Symbol.asyncIterator]();
  const first = await iterator.next();
  return { first: first.value, iterator };
}

async function refusal(transport: Transport): Promise<ConnectError> {
  const stop = new AbortController();
  try {
    await openWatch(transport, stop);
  } catch (err) {
    return ConnectError.from(err);
  } finally {
    stop.abort();
  }
  throw new Error("the stream was not refused");
}

describe("WatchTopology", () => {
  it.each([
    ["Connect JSON over HTTP/1.1", () => createConnectTransport({ baseUrl: node.url, httpVersion: "1.1", useBinaryFormat: false })],
    ["gRPC over HTTP/2", () => createGrpcTransport({ baseUrl: node.url })],
    ["gRPC-Web over HTTP/1.1", () => createGrpcWebTransport({ baseUrl: node.url, httpVersion: "1.1" })],
  ])("streams the topology at once, then progress messages at the interval, over %s", async (_name, transport) => {
    const stop = new AbortController();
    try {
      const { first, iterator } = await openWatch(transport(), stop);
      expect(first?.progress).toBe(false);
      expect(first?.topology?.ring?.shardCount).toBe(12);
      expect(first?.topology?.shards).toHaveLength(12);
      // Every shard is led by the node (the stream says so as soon as each one's election ends).
      const allLed = (m: typeof first) => m?.topology?.shards.every((s: { leaderId: string }) => s.leaderId === "w1") ?? false;
      let latest = first;
      while (!allLed(latest)) latest = (await iterator.next()).value;
      // A later election (a loaded machine can miss a heartbeat) streams another change first; skip those, but a
      // progress message must come within a bound far above the 50 ms interval.
      const started = performance.now();
      let next = (await iterator.next()).value;
      for (let changes = 0; next?.progress !== true && changes < 20; changes++) next = (await iterator.next()).value;
      expect(next?.progress).toBe(true);
      expect(next?.topology?.shards).toHaveLength(12);
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      stop.abort();
    }
  });

  it("bounds streams per connection and per node with resource_exhausted naming the flag, and frees a place when a stream ends", async () => {
    const stops = [new AbortController(), new AbortController(), new AbortController()];
    try {
      const shared = createGrpcTransport({ baseUrl: node.url });
      await openWatch(shared, stops[0]!);
      await openWatch(shared, stops[1]!);
      const perConnection = await refusal(shared);
      expect(perConnection.code).toBe(Code.ResourceExhausted);
      expect(perConnection.rawMessage).toMatch(/--connection-streams-max/);
      await openWatch(createGrpcTransport({ baseUrl: node.url }), stops[2]!);
      const perNode = await refusal(createGrpcTransport({ baseUrl: node.url }));
      expect(perNode.code).toBe(Code.ResourceExhausted);
      expect(perNode.rawMessage).toMatch(/--streams-max/);
      stops[0]!.abort();
      await expect.poll(() => opens(createGrpcTransport({ baseUrl: node.url })), { timeout: 5000 }).toBe(true);
    } finally {
      for (const s of stops) s.abort();
    }
  });

  it("drops a consumer that stops reading: its stream is reset, and the node counts it", async () => {
    // A window of 64 bytes: the first message never fits, so every later one waits in the node's queue.
    const session = http2.connect(node.url, { settings: { initialWindowSize: 64 } });
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/distcache.v1.ClusterService/WatchTopology",
        "content-type": "application/grpc",
        te: "trailers",
      });
      stream.pause();
      const closed = new Promise<number>((resolve) => stream.on("close", () => resolve(stream.rstCode ?? -1)));
      stream.on("error", () => undefined);
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
      expect(await closed).toBe(http2.constants.NGHTTP2_CANCEL);
    } finally {
      session.destroy();
    }
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    expect(metrics).toMatch(/distcache_streams_total\{outcome="dropped"\} 1/);
  }, 30_000);
});

async function opens(transport: Transport): Promise<boolean> {
  const stop = new AbortController();
  try {
    await openWatch(transport, stop);
    return true;
  } catch {
    return false;
  } finally {
    stop.abort();
  }
}
