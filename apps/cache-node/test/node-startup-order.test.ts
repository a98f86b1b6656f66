import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CacheService, Consistency } from "@distcache/proto";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
// @ts-expect-error plain JS helper shared with `npm start`
import { freePorts, startNode, stopNode } from "../../../tools/scripts/local-nodes.mjs";

type Node = { pid: number; url: string; child: ChildProcess };
const dataRoot = mkdtempSync(join(tmpdir(), "distcache-startup-"));
const started: Node[] = [];

afterAll(async () => {
  for (const n of started) await stopNode(n, "SIGKILL");
  rmSync(dataRoot, { recursive: true, force: true });
});

it("opens the client port only once the committed log is applied: the first EVENTUAL read after a restart sees the last acknowledged write", async () => {
  const [port] = (await freePorts(1)) as number[];
  // One shard and no snapshot: a restart replays the whole log before it may serve.
  const options = { nodeId: "s1", port, dataDir: join(dataRoot, "s1"), args: ["--shards", "1", "--snapshot-entries", "100000000"] };
  let node = (await startNode(options)) as Node;
  started.push(node);
  const url = `http://127.0.0.1:${port}`;
  let client = createClient(CacheService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
  const value = "x".repeat(8 * 1024);
  for (let i = 0; i < 3000; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, j) => client.set({ key: `bulk${(i + j) % 50}`, payload: { case: "text", value } })));
  }
  await client.set({ key: "last", payload: { case: "text", value: "acknowledged" } });
  await stopNode(node, "SIGTERM");

  // Restart, and read from the moment the process exists: any answer at all must already
  // hold the write acknowledged before the stop.
  const restarting = startNode(options) as Promise<Node>;
  client = createClient(CacheService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
  let first: { found: boolean; payload: unknown } | undefined;
  const deadline = Date.now() + 20_000;
  while (!first && Date.now() < deadline) {
    try {
      first = await client.get({ key: "last", consistency: Consistency.EVENTUAL });
    } catch {
      await new Promise((r) => setTimeout(r, 1));
    }
  }
  node = await restarting;
  started.push(node);
  expect(first).toMatchObject({ found: true, payload: { case: "text", value: "acknowledged" } });
  // /healthz answers once the port is open; /readyz too, since the port opens only when ready.
  expect((await fetch(`${url}/healthz`)).status).toBe(200);
  expect((await fetch(`${url}/readyz`)).status).toBe(200);
});
