import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CacheService, type ShardPosition, type WatchEvent as WireEvent } from "@distcache/proto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CacheClient } from "../cache-client.js";
import type { WatchEvent } from "../cache-watch.js";
import { IndeterminateWriteError } from "../errors.js";
import { createNodeCacheClient } from "../node.js";
// @ts-expect-error plain JS helper shared with `npm start`
import { NODE_MAIN, planCluster, startCluster, startMember, stopNode } from "../../../../tools/scripts/local-nodes.mjs";

/*
 * Watch against a real 3-node cluster: a prefix watcher runs while writers write, a shard
 * leader is killed with kill -9 and restarted. Every acknowledged write must appear
 * exactly once, every indeterminate one at most once, positions must grow per shard, and
 * each key's last event must be its final value. The same for a second watcher that
 * disconnects and resumes with its token on a different node. Every process started here
 * is killed by PID in afterAll.
 */

interface NodeProcess {
  nodeId: string;
  pid: number;
  url: string;
}

/** What a watcher saw, as the checks need it. */
interface Seen {
  shard: number;
  index: bigint;
  ordinal: number;
  type: string;
  key: string;
  text: string | undefined;
  version: bigint;
}

const built = existsSync(NODE_MAIN as string);
const dataRoot = mkdtempSync(join(tmpdir(), "distcache-watch-e2e-"));
const ARGS = ["--raft-tick-ms", "50", "--stream-progress-ms", "500"];
const KEYS = 24;
let plan: { members: { id: string }[] };
let nodes: NodeProcess[] = [];
let writer: CacheClient;
let watcherClient: CacheClient;

const fromSdk = (e: WatchEvent): Seen => ({ ...e.position, type: e.type, key: e.key, text: e.text, version: e.version });
const fromWire = (e: WireEvent): Seen => ({
  shard: e.shard,
  index: e.index,
  ordinal: e.ordinal,
  type: ["", "put", "delete", "expire", "evict"][e.type] ?? "?",
  key: e.key,
  text: e.payload.case === "text" ? e.payload.value : undefined,
  version: e.version,
});

describe.skipIf(!built)("Watch against a 3-node cluster with a leader killed", () => {
  beforeAll(async () => {
    plan = await planCluster({ count: 3 });
    nodes = (await startCluster(plan, { dataRoot, args: ARGS })) as NodeProcess[];
    writer = createNodeCacheClient({ endpoints: [nodes[1]!.url] });
    watcherClient = createNodeCacheClient({ endpoints: [nodes[0]!.url] });
  }, 30_000);

  afterAll(async () => {
    await writer?.close();
    await watcherClient?.close();
    await Promise.all(nodes.map((n) => stopNode(n, "SIGKILL")));
    rmSync(dataRoot, { recursive: true, force: true });
  });

  it("delivers every acknowledged write exactly once across kill -9, restart and a resume on another node", async () => {
    // Watcher 1: the SDK, which reconnects and resumes by itself.
    const sdkSeen: Seen[] = [];
    const sdkWatch = watcherClient.watch("wf/", { prefix: true, withValues: true });
    const sdkDone = (async () => {
      for await (const event of sdkWatch) sdkSeen.push(fromSdk(event));
    })();
    // Watcher 2: a plain Connect stream on node 3, later resumed on node 1 with its token.
    const rawSeen: Seen[] = [];
    let token: ShardPosition[] = [];
    const rawWatch = async (url: string, stop: AbortSignal, start: ShardPosition[]) => {
      const client = createClient(CacheService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
      try {
        for await (const message of client.watch({ key: "wf/", prefix: true, withValues: true, start }, { signal: stop })) {
          rawSeen.push(...message.events.map(fromWire));
          token = message.resume;
        }
      } catch {
        // stopped
      }
    };
    const firstStop = new AbortController();
    const firstUrl = nodes[2]!.url;
    const firstRaw = rawWatch(firstUrl, firstStop.signal, []);
    await new Promise((r) => setTimeout(r, 500));

    const acked = new Set<string>();
    const indeterminate = new Set<string>();
    let writing = true;
    let seq = 0;
    const writers = Array.from({ length: 4 }, async () => {
      while (writing) {
        const key = `wf/${seq % KEYS}`;
        const value = `${key}#${seq++}`;
        try {
          await writer.set(key, value);
          acked.add(value);
        } catch (err) {
          if (err instanceof IndeterminateWriteError) indeterminate.add(value);
        }
      }
    });
    await new Promise((r) => setTimeout(r, 1500));
    // Kill -9 the node the SDK watcher streams from (it leads shards, as every node does), and restart it.
    const watchersOn = async (n: NodeProcess) => Number(/^distcache_watchers_open (\d+)/m.exec(await (await fetch(`${n.url}/metrics`)).text())?.[1]);
    const sdkNode = [];
    for (const n of nodes) if ((await watchersOn(n)) - (n.url === firstUrl ? 1 : 0) > 0) sdkNode.push(n);
    expect(sdkNode).toHaveLength(1);
    const victim = sdkNode[0]!;
    const victimId = victim.nodeId;
    const topology = await writer.topology();
    expect(topology.shards.filter((s) => s.leaderId === victimId).length).toBeGreaterThan(0);
    await stopNode(victim, "SIGKILL");
    await new Promise((r) => setTimeout(r, 1500));
    nodes = [...nodes.filter((n) => n !== victim), (await startMember(plan, victimId, { dataRoot, args: ARGS })) as NodeProcess];
    // Watcher 2 disconnects, then resumes on another node (not the one it watched on) with its token.
    firstStop.abort();
    await firstRaw;
    const resumeUrl = nodes.find((n) => n.url !== firstUrl)!.url;
    const secondStop = new AbortController();
    const secondRaw = rawWatch(resumeUrl, secondStop.signal, token);
    await new Promise((r) => setTimeout(r, 1500));
    writing = false;
    await Promise.all(writers);
    expect(acked.size).toBeGreaterThan(50);

    // Final values, read STRONG; each watcher's last event per key must reach them.
    const finals = new Map<string, string | undefined>();
    for (let i = 0; i < KEYS; i++) finals.set(`wf/${i}`, (await writer.getText(`wf/${i}`)) ?? undefined);
    const lastOf = (seen: Seen[]) => {
      const last = new Map<string, string | undefined>();
      for (const e of seen) last.set(e.key, e.type === "put" ? e.text : undefined);
      return last;
    };
    const caughtUp = (seen: Seen[]) => [...finals].every(([key, value]) => lastOf(seen).get(key) === value);
    for (let waited = 0; waited < 20_000 && !(caughtUp(sdkSeen) && caughtUp(rawSeen)); waited += 100) await new Promise((r) => setTimeout(r, 100));
    sdkWatch.close();
    secondStop.abort();
    await Promise.all([sdkDone, secondRaw]);

    for (const [name, seen] of [
      ["the SDK watcher", sdkSeen],
      ["the resumed watcher", rawSeen],
    ] as const) {
      const counts = new Map<string, number>();
      for (const e of seen) if (e.type === "put") counts.set(e.text!, (counts.get(e.text!) ?? 0) + 1);
      const missing = [...acked].filter((v) => counts.get(v) !== 1);
      expect(missing, `${name}: acknowledged writes not seen exactly once`).toEqual([]);
      const repeated = [...indeterminate].filter((v) => (counts.get(v) ?? 0) > 1);
      expect(repeated, `${name}: indeterminate writes seen twice`).toEqual([]);
      const unknown = [...counts.keys()].filter((v) => !acked.has(v) && !indeterminate.has(v));
      expect(unknown, `${name}: values no writer sent, or writes that failed`).toEqual([]);
      const lastPosition = new Map<number, bigint>();
      for (const e of seen) {
        const p = e.index * 2n ** 32n + BigInt(e.ordinal);
        expect(p > (lastPosition.get(e.shard) ?? -1n), `${name}: position of shard ${e.shard} did not grow`).toBe(true);
        lastPosition.set(e.shard, p);
      }
      expect(Object.fromEntries(lastOf(seen)), `${name}: last events against final values`).toEqual(Object.fromEntries(finals));
    }
  }, 90_000);
});
