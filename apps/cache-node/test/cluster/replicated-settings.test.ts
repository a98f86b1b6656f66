import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CacheService, ClusterService, EvictionPolicy, type StatsResponse } from "@distcache/proto";
import { Ring } from "@distcache/ring";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain JS helper shared with `npm start`
import { planCluster, startMember, stopNode } from "../../../../tools/scripts/local-nodes.mjs";
import type { NodeProcess } from "./cluster-harness.js";

/*
 * Store settings are replicated state (invariants 3 and 10 of docs/design.md): a node whose
 * --entries-max and --eviction-policy differ from its peers' evicts the same victims as
 * they do, says which flags it ignores, and ConfigureStore changes every replica.
 */

const SHARDS = 2;
const ring = new Ring(Array.from({ length: SHARDS }, (_, i) => i));
const COMMON = ["--raft-tick-ms", "50", "--shards", String(SHARDS), "--entries-max", "40", "--eviction-policy", "lru"];
const N3_FLAGS = ["--entries-max", "400", "--eviction-policy", "lfu"];

const dataRoot = mkdtempSync(join(tmpdir(), "distcache-settings-"));
let plan: { members: { id: string }[] };
const nodes = new Map<string, NodeProcess>();
const started: NodeProcess[] = [];
const logs = new Map<string, string[]>();

async function start(id: string, args: string[]): Promise<void> {
  logs.set(id, []);
  const node = (await startMember(plan, id, { dataRoot, args, onLog: (from: string, line: string) => logs.get(from)!.push(line) })) as NodeProcess;
  nodes.set(id, node);
  started.push(node);
}

const cache = (id: string): Client<typeof CacheService> =>
  createClient(CacheService, createConnectTransport({ baseUrl: nodes.get(id)!.url, httpVersion: "1.1" }));
const cluster = (id: string): Client<typeof ClusterService> =>
  createClient(ClusterService, createConnectTransport({ baseUrl: nodes.get(id)!.url, httpVersion: "1.1" }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function keyForShard(shard: number, prefix: string): string {
  for (let i = 0; ; i++) if (ring.shardFor(`${prefix}${i}`) === shard) return `${prefix}${i}`;
}

/** Warnings a node logged about flags its shards' settings override. */
function ignoredWarnings(id: string): string[] {
  return logs
    .get(id)!
    .map((line) => {
      try {
        return JSON.parse(line) as { level?: number; msg?: string };
      } catch {
        return {};
      }
    })
    .filter((entry) => entry.level === 40 && entry.msg?.includes(" ignored: "))
    .map((entry) => entry.msg!);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Every node's Stats with digests, once all replicas of every shard report the same digest. */
async function agreedStats(): Promise<Map<string, StatsResponse>> {
  return until("every replica's digest to match", async () => {
    const all = new Map<string, StatsResponse>();
    for (const id of nodes.keys()) all.set(id, await cache(id).stats({ includeDigests: true }, { timeoutMs: 5000 }));
    for (let shard = 0; shard < SHARDS; shard++) {
      const digests = new Set([...all.values()].map((s) => s.shards.find((x) => x.shard === shard)?.digest));
      if (digests.size !== 1 || digests.has(undefined) || digests.has("")) return undefined;
    }
    return all;
  });
}

beforeAll(async () => {
  plan = await planCluster({ count: 3 });
  // n1 and n2 lead first (they seed both groups with their flags); n3 joins with other flags.
  await Promise.all(["n1", "n2"].map((id) => start(id, COMMON)));
  for (let shard = 0; shard < SHARDS; shard++) {
    await until(`a write on shard ${shard}`, () =>
      cache("n1").set({ key: keyForShard(shard, "first-"), payload: { case: "text", value: "x" } }, { timeoutMs: 3000 }),
    );
  }
  await start("n3", [...COMMON, ...N3_FLAGS]);
  await until("n3 to know both leaders", async () => ((await cache("n3").stats({})).shards.every((s) => s.leaderId !== "") ? true : undefined));
}, 60_000);

afterAll(async () => {
  await Promise.all(started.map((n) => stopNode(n, "SIGKILL")));
  rmSync(dataRoot, { recursive: true, force: true });
});

describe("store settings through the log", () => {
  it("keeps every replica's digest equal under evictions when one node has other flags, and that node names the flags it ignores", async () => {
    for (let i = 0; i < 150; i++) {
      const via = ["n1", "n2", "n3"][i % 3]!;
      await cache(via).set({ key: `w${i}`, payload: { case: "text", value: `value-${i}` } });
      // Reads on every node feed access hints (LRU here), so recency moves through the log too.
      if (i % 5 === 0) await cache("n3").get({ key: `w${i - 2}` });
    }
    const stats = await agreedStats();
    for (const [id, node] of stats) {
      for (const shard of node.shards) {
        expect(shard.evictionPolicy, `${id} shard ${shard.shard}`).toBe("lru");
        expect(shard.entriesMax, `${id} shard ${shard.shard}`).toBe(20n);
        expect(shard.store?.keys, `${id} shard ${shard.shard}`).toBe(20n);
        expect(shard.store?.evictions, `${id} shard ${shard.shard}`).toBeGreaterThan(0n);
      }
    }
    const warnings = await until("n3's warning", async () => (ignoredWarnings("n3").length > 0 ? ignoredWarnings("n3") : undefined));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("--eviction-policy lfu ignored: shards 0, 1 use lru (set through the log; change with distcache configure)");
    expect(warnings[0]).toContain("--entries-max 400 ignored: shards 0, 1 use 20 entries per shard, not 200");
    expect(warnings[0]).not.toContain("--bytes-max");
    expect(ignoredWarnings("n1")).toEqual([]);
    expect(ignoredWarnings("n2")).toEqual([]);
  });

  it("refuses settings no replica could take, at the edge", async () => {
    const refusal = (req: Parameters<Client<typeof ClusterService>["configureStore"]>[0]) =>
      cluster("n3")
        .configureStore(req)
        .then(
          () => undefined,
          (err: unknown) => ConnectError.from(err),
        );
    const unknownPolicy = await refusal({ policy: 9 as EvictionPolicy });
    expect(unknownPolicy?.code).toBe(Code.InvalidArgument);
    const unknownShard = await refusal({ shards: [SHARDS], entriesMax: 5n });
    expect(unknownShard?.code).toBe(Code.InvalidArgument);
    const tooSmall = await refusal({ bytesMax: 1000n });
    expect(tooSmall?.code).toBe(Code.InvalidArgument);
    expect(tooSmall?.rawMessage).toMatch(/bytes_max must be at least \d+/);
  });

  it("changes policy and bounds on every replica with ConfigureStore, answered by any node", async () => {
    const one = await cluster("n3").configureStore({ shards: [1], bytesMax: 50_000_000n });
    expect(one.shards).toEqual([expect.objectContaining({ shard: 1, policy: EvictionPolicy.LRU, entriesMax: 20n, bytesMax: 50_000_000n })]);
    const all = await cluster("n3").configureStore({ policy: EvictionPolicy.FIFO, entriesMax: 10n });
    expect(all.shards.map((s) => [s.shard, s.policy, s.entriesMax])).toEqual([
      [0, EvictionPolicy.FIFO, 10n],
      [1, EvictionPolicy.FIFO, 10n],
    ]);
    const stats = await agreedStats();
    for (const [id, node] of stats) {
      for (const shard of node.shards) {
        expect(shard.evictionPolicy, `${id} shard ${shard.shard}`).toBe("fifo");
        expect(shard.entriesMax, `${id} shard ${shard.shard}`).toBe(10n);
        expect(shard.store?.keys, `${id} shard ${shard.shard}`).toBeLessThanOrEqual(10n);
      }
      expect(node.shards.find((s) => s.shard === 1)?.bytesMax).toBe(50_000_000n);
    }
  });

  it("does not seed again when a node restarts with other flags, even as a leader", async () => {
    await stopNode(nodes.get("n3")!, "SIGKILL");
    await start("n3", [...COMMON, "--entries-max", "1000", "--eviction-policy", "random"]);
    const warnings = await until("the restarted n3's warning", async () => (ignoredWarnings("n3").length > 0 ? ignoredWarnings("n3") : undefined));
    expect(warnings[0]).toContain("--eviction-policy random ignored: shards 0, 1 use fifo");
    expect(warnings[0]).toContain("--entries-max 1000 ignored: shards 0, 1 use 10 entries per shard, not 500");
    // n3 leads shard 0 in a new term, and writes through it: the settings stay.
    await until("n3 to lead shard 0", () => cluster("n1").transferLeader({ shard: 0, toNodeId: "n3" }, { timeoutMs: 5000 }));
    for (let i = 0; i < 20; i++) await cache("n3").set({ key: keyForShard(0, `after-${i}-`), payload: { case: "text", value: "v" } });
    const stats = await agreedStats();
    for (const [id, node] of stats) {
      for (const shard of node.shards) {
        expect(shard.evictionPolicy, `${id} shard ${shard.shard}`).toBe("fifo");
        expect(shard.entriesMax, `${id} shard ${shard.shard}`).toBe(10n);
      }
    }
    expect(stats.get("n3")!.shards.find((s) => s.shard === 0)?.leaderId).toBe("n3");
  });
});
