import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CacheClient } from "../cache-client.js";
import { createNodeCacheClient } from "../node.js";
// @ts-expect-error plain JS helper shared with `npm start`
import { NODE_MAIN, planCluster, startCluster, stopNode } from "../../../../tools/scripts/local-nodes.mjs";

/*
 * Failover is invisible to SDK callers: 16 callers increment 20 counters on a real
 * 3-node cluster while the node leading the most shards is killed with kill -9. Every
 * increment succeeds (writes whose outcome the kill left unknown are resent with their
 * session and sequence, and applied once), and every counter ends at the number of
 * increments acknowledged for it, with the SDK sending concurrent increments as Batch
 * calls (auto-batching, its default). Every process started here is killed by PID.
 */

interface NodeProcess {
  nodeId: string;
  pid: number;
  url: string;
}

const built = existsSync(NODE_MAIN as string);
const dataRoot = mkdtempSync(join(tmpdir(), "distcache-failover-"));
let nodes: NodeProcess[] = [];
let client: CacheClient;

const CALLERS = 16;
const COUNTERS = 20;
const RUN_MS = 6000;
const KILL_AT_MS = 2000;

describe.skipIf(!built)("16 SDK callers and a leader killed with kill -9", () => {
  beforeAll(async () => {
    const plan = await planCluster({ count: 3 });
    nodes = (await startCluster(plan, { dataRoot })) as NodeProcess[];
    client = createNodeCacheClient({ endpoints: nodes.map((n) => n.url), timeoutMs: 20_000 });
  }, 20_000);

  afterAll(async () => {
    await client?.close();
    await Promise.all(nodes.map((n) => stopNode(n, "SIGKILL")));
    rmSync(dataRoot, { recursive: true, force: true });
  });

  it("see no errors, and every counter equals its acknowledged increments", async () => {
    const acked = new Array<number>(COUNTERS).fill(0);
    const errors: string[] = [];
    const started = Date.now();
    const caller = async (c: number) => {
      for (let i = c; Date.now() - started < RUN_MS; i += CALLERS) {
        const counter = i % COUNTERS;
        try {
          await client.incr(`counter:${counter}`, 1);
          acked[counter]!++;
        } catch (err) {
          errors.push(`${(err as Error).name}: ${(err as Error).message}`);
        }
      }
    };
    let batched = 0;
    const kill = (async () => {
      await new Promise((r) => setTimeout(r, KILL_AT_MS));
      // Before the kill, the SDK has been sending concurrent increments as Batch calls.
      for (const node of nodes) batched += batchedIncrements(await (await fetch(`${node.url}/metrics`)).text());
      const topology = await client.topology();
      const led = (id: string) => topology.shards.filter((s) => s.leaderId === id).length;
      const victim = [...nodes].sort((a, b) => led(b.nodeId) - led(a.nodeId))[0]!;
      expect(led(victim.nodeId)).toBeGreaterThan(0);
      await stopNode(victim, "SIGKILL");
    })();
    await Promise.all([...Array.from({ length: CALLERS }, (_, c) => caller(c)), kill]);
    expect(errors).toEqual([]);
    const values = await Promise.all(Array.from({ length: COUNTERS }, (_, k) => client.getText(`counter:${k}`)));
    expect(values.map((v) => Number(v ?? 0))).toEqual(acked);
    expect(acked.reduce((a, b) => a + b, 0)).toBeGreaterThan(100);
    expect(batched).toBeGreaterThan(0);
  }, 40_000);
});

/** The Incr calls a node ran inside Batch requests, from its metrics. */
function batchedIncrements(metrics: string): number {
  const line = metrics.split("\n").find((l) => l.startsWith('distcache_batch_calls_total{method="Incr",code="ok"}'));
  return Number(line?.split(" ").at(-1) ?? 0);
}
