import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CacheService } from "@distcache/proto";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
// @ts-expect-error plain JS helper shared with `npm start`
import { startNode, stopNode } from "../../../tools/scripts/local-nodes.mjs";

type Node = { pid: number; url: string; child: ChildProcess };
const dataRoot = mkdtempSync(join(tmpdir(), "distcache-restart-"));
const started: Node[] = [];

async function start(): Promise<Node> {
  const node = (await startNode({ nodeId: "r1", dataDir: join(dataRoot, "r1") })) as Node;
  started.push(node);
  return node;
}

afterAll(async () => {
  for (const n of started) await stopNode(n, "SIGKILL");
  rmSync(dataRoot, { recursive: true, force: true });
});

it("keeps every acknowledged write across SIGTERM and kill -9", async () => {
  let node = await start();
  let client = createClient(CacheService, createConnectTransport({ baseUrl: node.url, httpVersion: "1.1" }));
  const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
  await Promise.all(keys.map((key) => client.set({ key, payload: { case: "text", value: `v-${key}` } })));
  await client.incr({ key: "counter", delta: 41n });
  await client.delete({ key: "k0" });
  const before = await client.stats({ includeDigests: true });

  await stopNode(node, "SIGTERM");
  node = await start();
  client = createClient(CacheService, createConnectTransport({ baseUrl: node.url, httpVersion: "1.1" }));
  // The restarted node replays its log to the same state (its new term adds one empty
  // entry per shard, hence the digests are compared without the applied index).
  const storeDigests = (stats: typeof before) => stats.shards.map((s) => s.digest.split(":").slice(1).join(":"));
  expect(storeDigests(await client.stats({ includeDigests: true }))).toEqual(storeDigests(before));
  expect((await client.get({ key: "k5" })).payload).toEqual({ case: "text", value: "v-k5" });
  expect((await client.get({ key: "k0" })).found).toBe(false);
  expect((await client.incr({ key: "counter", delta: 1n })).value).toBe(42n);

  // Writes acknowledged right before a kill -9 are on disk (fdatasync before the answer).
  const acked = await Promise.all(keys.map((key) => client.set({ key, payload: { case: "text", value: `w-${key}` } })));
  expect(acked).toHaveLength(keys.length);
  await stopNode(node, "SIGKILL");
  node = await start();
  client = createClient(CacheService, createConnectTransport({ baseUrl: node.url, httpVersion: "1.1" }));
  const got = await client.mGet({ keys });
  expect(got.results.every((r, i) => r.payload.case === "text" && r.payload.value === `w-${keys[i]}`)).toBe(true);
});
