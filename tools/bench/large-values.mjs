// Large values against a local 3-node cluster: writes --writes values of --value-bytes to
// --keys keys through the SDK (binary, straight to each shard's leader), with --snapshot-bytes on every node, while
// sampling each node's RSS (/proc/<pid>/status VmRSS) and data dir size (du). Prints the
// peak RSS of each node against its bound (RSS before the writes + the store bound +
// 3 × snapshot bytes × shards written + 256 MiB) and the peak data dir size.
//
//   npm run build && node tools/bench/large-values.mjs [--writes 2000] [--value-bytes 1048576]
//     [--keys 10] [--snapshot-bytes 64MiB] [--bytes-max 268435456] [--concurrency 6]
//
// Every process it starts is stopped by PID; its data goes under a temporary directory it removes.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createNodeCacheClient } from "@distcache/client/node";
import { Ring } from "@distcache/ring";
import { planCluster, startCluster, stopNode } from "../scripts/local-nodes.mjs";

const { values: opts } = parseArgs({
  options: {
    writes: { type: "string", default: "2000" },
    "value-bytes": { type: "string", default: String(1024 * 1024) },
    keys: { type: "string", default: "10" },
    "snapshot-bytes": { type: "string", default: "64MiB" },
    "bytes-max": { type: "string", default: String(256 * 1024 * 1024) },
    concurrency: { type: "string", default: "6" },
  },
});
const WRITES = Number(opts.writes);
const VALUE_BYTES = Number(opts["value-bytes"]);
const BYTES_MAX = Number(opts["bytes-max"]);
const CONCURRENCY = Number(opts.concurrency);
const SHARDS = 12;
const MIB = 1024 * 1024;
const UNITS = { "": 1, b: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30 };
const sizeMatch = /^(\d+)([a-z]*)$/i.exec(opts["snapshot-bytes"]);
const SNAPSHOT_BYTES = sizeMatch && UNITS[sizeMatch[2].toLowerCase()] ? Number(sizeMatch[1]) * UNITS[sizeMatch[2].toLowerCase()] : NaN;
if (!Number.isSafeInteger(SNAPSHOT_BYTES)) throw new Error(`--snapshot-bytes: not a byte count: ${opts["snapshot-bytes"]}`);

const ring = new Ring(Array.from({ length: SHARDS }, (_, i) => i));
const keys = Array.from({ length: Number(opts.keys) }, (_, i) => `large-${i}`);
const shardsWritten = new Set(keys.map((k) => ring.shardFor(k))).size;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rss = (pid) => Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1]) * 1024;
const du = (dir) => Number(execFileSync("du", ["-sb", dir], { encoding: "utf8" }).split("\t")[0]);

const dataRoot = mkdtempSync(join(tmpdir(), "distcache-large-values-"));
let nodes = [];
try {
  const plan = await planCluster({ count: 3 });
  nodes = await startCluster(plan, { dataRoot, args: ["--snapshot-bytes", opts["snapshot-bytes"], "--bytes-max", String(BYTES_MAX)] });
  const call = async (url, method, body) => {
    const response = await fetch(`${url}/distcache.v1.CacheService/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    if (!response.ok) throw new Error(`${method}: ${response.status} ${await response.text()}`);
    return response.json();
  };
  // Each shard's leader, once the nodes elected one for every shard written.
  const leaders = new Map();
  for (const deadline = Date.now() + 30_000; leaders.size < shardsWritten;) {
    if (Date.now() > deadline) throw new Error("no leader for every shard written");
    const stats = await call(nodes[0].url, "Stats", {});
    for (const s of stats.shards ?? []) if (s.leaderId && keys.some((k) => ring.shardFor(k) === (s.shard ?? 0))) leaders.set(s.shard ?? 0, s.leaderId);
    if (leaders.size < shardsWritten) await sleep(200);
  }
  await sleep(1000);
  const empty = new Map(nodes.map((n) => [n.nodeId, rss(n.pid)]));
  const peakRss = new Map(nodes.map((n) => [n.nodeId, 0]));
  const peakDir = new Map(nodes.map((n) => [n.nodeId, 0]));
  const sample = () => {
    for (const n of nodes) {
      peakRss.set(n.nodeId, Math.max(peakRss.get(n.nodeId), rss(n.pid)));
      peakDir.set(n.nodeId, Math.max(peakDir.get(n.nodeId), du(join(dataRoot, n.nodeId))));
    }
  };
  let writing = true;
  const sampler = (async () => {
    while (writing) {
      sample();
      await sleep(250);
    }
  })();

  const cache = createNodeCacheClient({ endpoints: nodes.map((n) => n.url) });
  // A few distinct values, so consecutive writes of a key differ.
  const payloads = Array.from({ length: 4 }, (_, i) => new Uint8Array(VALUE_BYTES).fill(i + 1));
  let next = 0;
  let retries = 0;
  const started = Date.now();
  const writer = async () => {
    for (let i = next++; i < WRITES; i = next++) {
      const key = keys[i % keys.length];
      for (let attempt = 0; ; attempt++) {
        try {
          await cache.set(key, payloads[i % payloads.length]);
          break;
        } catch (err) {
          if (attempt > 20) throw err;
          retries++;
          await sleep(200);
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, writer));
  } finally {
    writing = false;
    await sampler;
  }
  await cache.close();
  sample();
  const seconds = (Date.now() - started) / 1000;
  console.log(
    `${WRITES} writes of ${VALUE_BYTES} B to ${keys.length} keys (${shardsWritten} shards), ` +
      `--snapshot-bytes ${opts["snapshot-bytes"]}, --bytes-max ${BYTES_MAX}: ` +
      `${seconds.toFixed(1)} s, ${((WRITES * VALUE_BYTES) / MIB / seconds).toFixed(1)} MiB/s, ${retries} retries`,
  );
  for (const n of nodes) {
    const bound = empty.get(n.nodeId) + BYTES_MAX + 3 * SNAPSHOT_BYTES * shardsWritten + 256 * MIB;
    const metrics = await (await fetch(`${n.url}/metrics`)).text();
    const taken = Number(metrics.match(/distcache_raft_driver\{counter="snapshotsTaken"\} (\d+)/)?.[1] ?? 0);
    const [emptyMib, peakMib, boundMib] = [empty.get(n.nodeId), peakRss.get(n.nodeId), bound].map((bytes) => Math.round(bytes / MIB));
    const verdict = peakRss.get(n.nodeId) < bound ? "within" : "ABOVE";
    const dirPeakMib = Math.round(peakDir.get(n.nodeId) / MIB);
    const dirEndMib = Math.round(du(join(dataRoot, n.nodeId)) / MIB);
    console.log(
      `${n.nodeId}: RSS empty ${emptyMib} MiB, peak ${peakMib} MiB (bound ${boundMib} MiB, ${verdict}); ` +
        `data dir peak ${dirPeakMib} MiB, at the end ${dirEndMib} MiB; snapshots taken ${taken}`,
    );
  }
} finally {
  await Promise.all(nodes.map((n) => stopNode(n, "SIGKILL")));
  rmSync(dataRoot, { recursive: true, force: true });
}
