import { createHmac } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ClusterService, type Topology } from "@distcache/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CacheClient } from "../cache-client.js";
import { createNodeCacheClient } from "../node.js";
// @ts-expect-error plain JS helper shared with `npm start`
import { NODE_MAIN, freePorts, planCluster, startCluster, startNode, stopNode } from "../../../../tools/scripts/local-nodes.mjs";

/*
 * The cluster changes shape under load from the SDK (default timeoutMs) and from callers
 * that send Connect JSON to one node, as curl does: a 4th node joins, then the cluster
 * grows to 6 and shrinks back to 3. After each step every shard has 3 voters and no
 * learner, replicas and shard leaders per node differ by at most one, no SDK call fails,
 * and the one-node callers see at most `unavailable` with a retry hint. At the end every
 * acknowledged key reads back STRONG. Needs the built node; every process is stopped by PID.
 */

interface NodeProcess {
  nodeId: string;
  pid: number;
  url: string;
  child: { once(event: "exit", listener: (code: number | null) => void): void };
}

const built = existsSync(NODE_MAIN as string);
const dataRoot = mkdtempSync(join(tmpdir(), "distcache-membership-e2e-"));
const nodes = new Map<string, NodeProcess>();
let secret = "";
let client: CacheClient;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const admin = (id: string) => createClient(ClusterService, createConnectTransport({ baseUrl: nodes.get(id)!.url, httpVersion: "1.1" }));
const adminHeaders = () => ({ "distcache-admin-token": createHmac("sha256", secret).update("distcache-cluster-admin-v1").digest("hex") });

/** Whether the topology has every shard on 3 committed voters of `members`, no learner, and replicas and leaders balanced over them. */
function balancedOver(topology: Topology | undefined, members: readonly string[]): boolean {
  if (!topology || topology.shards.length !== 12) return false;
  const replicas = new Map(members.map((id) => [id, 0]));
  const leaders = new Map(members.map((id) => [id, 0]));
  for (const s of topology.shards) {
    if (s.replicas.length !== 3 || s.learners.length > 0 || !s.replicas.every((r) => replicas.has(r)) || !leaders.has(s.leaderId)) return false;
    for (const r of s.replicas) replicas.set(r, replicas.get(r)! + 1);
    leaders.set(s.leaderId, leaders.get(s.leaderId)! + 1);
  }
  const spread = (m: Map<string, number>) => Math.max(...m.values()) - Math.min(...m.values());
  return spread(replicas) <= 1 && spread(leaders) <= 1 && topology.nodes.length === members.length;
}

async function settleOn(members: readonly string[], via: string, timeoutMs = 120_000): Promise<Topology> {
  const deadline = Date.now() + timeoutMs;
  let last: Topology | undefined;
  for (;;) {
    last = (
      await admin(via)
        .getTopology({}, { timeoutMs: 3000 })
        .catch(() => undefined)
    )?.topology;
    if (balancedOver(last, members)) return last!;
    if (Date.now() > deadline) throw new Error(`not balanced over ${members.join(",")}: ${JSON.stringify(last?.shards.map((s) => [s.leaderId, s.replicas]))}`);
    await sleep(250);
  }
}

/** SDK workers, each writing its own keys and reading them back STRONG: every failure is recorded. */
function sdkLoad(workers: number) {
  const acked = new Map<string, string>();
  const failures: string[] = [];
  let calls = 0;
  let stop = false;
  const done = Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const key = `sdk${w}-${i % 100}`;
        try {
          if (i % 3 === 2 && acked.has(key)) {
            const got = await client.getText(key);
            if (got !== acked.get(key)) failures.push(`${key}: read ${got}, expected ${acked.get(key)}`);
          } else {
            await client.set(key, `v${i}`);
            acked.set(key, `v${i}`);
          }
          calls++;
        } catch (err) {
          failures.push(`${(err as Error).name}: ${(err as Error).message}`);
          acked.delete(key);
        }
      }
    }),
  );
  return { acked, failures, calls: () => calls, stop: async () => ((stop = true), await done) };
}

/** Connect JSON Sets to one node, as curl sends them: answers counted by code, unavailable ones checked for a retry hint. */
function oneNodeLoad(url: string) {
  const codes = new Map<string, number>();
  const unhinted: string[] = [];
  let stop = false;
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      const res = await fetch(`${url}/distcache.v1.CacheService/Set`, {
        method: "POST",
        headers: { "content-type": "application/json", "connect-timeout-ms": "5000" },
        body: JSON.stringify({ key: `curl-${i % 100}`, text: `c${i}` }),
      }).catch(() => undefined);
      const body = res ? ((await res.json().catch(() => ({}))) as { code?: string; message?: string }) : { code: "no_answer" };
      const code = res?.status === 200 ? "ok" : (body.code ?? `http_${res?.status}`);
      codes.set(code, (codes.get(code) ?? 0) + 1);
      if (code === "unavailable" && !/retry/i.test(body.message ?? "")) unhinted.push(body.message ?? "");
      if (code !== "ok") await sleep(20);
    }
  })();
  return { codes, unhinted, stop: async () => ((stop = true), await done) };
}

async function joinNode(id: string, via: string): Promise<void> {
  const [port, peerPort] = (await freePorts(2)) as number[];
  const args = ["--peer-port", String(peerPort), "--join", nodes.get(via)!.url, "--peer-secret", secret];
  nodes.set(id, (await startNode({ nodeId: id, port, dataDir: join(dataRoot, id), args, startTimeoutMs: 120_000 })) as NodeProcess);
}

async function remove(id: string, via: string): Promise<void> {
  const node = nodes.get(id)!;
  const exited = new Promise<number | null>((resolve) => node.child.once("exit", resolve));
  await admin(via).removeNode({ nodeId: id }, { timeoutMs: 10_000, headers: adminHeaders() });
  // A removed node moves its replicas away, then stops by itself.
  expect(await Promise.race([exited, sleep(120_000).then(() => "still running")])).toBe(0);
  nodes.delete(id);
}

describe.skipIf(!built)("membership changes under load", () => {
  beforeAll(async () => {
    const plan = await planCluster({ count: 3 });
    secret = plan.secret as string;
    for (const n of (await startCluster(plan, { dataRoot })) as NodeProcess[]) nodes.set(n.nodeId, n);
    client = createNodeCacheClient({ endpoints: [...nodes.values()].map((n) => n.url) });
    await settleOn(["n1", "n2", "n3"], "n1", 30_000);
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await Promise.all([...nodes.values()].map((n) => stopNode(n, "SIGKILL")));
    rmSync(dataRoot, { recursive: true, force: true });
  });

  it("a 4th node joins: 3 leaders each, no SDK call fails, one-node callers see only unavailable with a retry hint", async () => {
    const sdk = sdkLoad(4);
    const curl = oneNodeLoad(nodes.get("n1")!.url);
    await sleep(500);
    await joinNode("n4", "n2");
    const topology = await settleOn(["n1", "n2", "n3", "n4"], "n4");
    await sleep(500);
    await Promise.all([sdk.stop(), curl.stop()]);
    expect(topology.shards.filter((s) => s.replicas.includes("n4"))).toHaveLength(9);
    for (const id of ["n1", "n2", "n3", "n4"])
      expect(
        topology.shards.filter((s) => s.leaderId === id),
        id,
      ).toHaveLength(3);
    expect(sdk.failures).toEqual([]);
    expect(sdk.calls()).toBeGreaterThan(100);
    expect([...curl.codes.keys()].filter((c) => c !== "ok" && c !== "unavailable")).toEqual([]);
    expect(curl.unhinted).toEqual([]);
  }, 180_000);

  it("grows to 6 and shrinks back to 3, balanced after each step, and every acknowledged key reads back STRONG", async () => {
    const sdk = sdkLoad(4);
    const members = ["n1", "n2", "n3", "n4"];
    for (const id of ["n5", "n6"]) {
      await joinNode(id, "n1");
      members.push(id);
      await settleOn(members, id);
    }
    for (const id of ["n6", "n5", "n4"]) {
      await remove(id, "n1");
      members.splice(members.indexOf(id), 1);
      await settleOn(members, "n2");
    }
    await sdk.stop();
    expect(sdk.failures).toEqual([]);
    for (const [key, value] of sdk.acked) expect(await client.getText(key), key).toBe(value);
  }, 600_000);
});
