// Whether snapshots of big shards cost elections: starts a local 3-node cluster with
// --shards 2 and a snapshot every 300 entries, writes KEYS keys (default 1,000,000) in
// batches of 1,000 from 8 SDK callers, then keeps writing for 15 s, and prints each
// shard's term and leader whenever they change. A term that rises means an election.
//
//   node tools/scripts/big-shard-terms.mjs [KEYS]
//
// Every process it starts is stopped by PID; its data directory is removed.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNodeCacheClient } from "@distcache/client/node";
import { planCluster, startCluster, stopNode } from "./local-nodes.mjs";
const keys = Number(process.argv[2] ?? 1_000_000);
let elections = 0;
const dataRoot = mkdtempSync(join(tmpdir(), "bigshard-"));
const nodes = await startCluster(await planCluster({ count: 3 }), {
  dataRoot,
  args: ["--shards", "2", "--snapshot-entries", "300", "--entries-max", "4000000", "--bytes-max", String(4 * 1024 ** 3)],
});
const client = createNodeCacheClient({ endpoints: nodes.map((n) => n.url), timeoutMs: 30000 });
const terms = async () => (await client.topology()).shards.map((s) => `${s.id}:${s.term}@${s.leaderId}`).join(" ");
console.log("start", await terms());
let next = 0,
  done = false;
const t0 = Date.now();
const writer = async () => {
  while (!done) {
    const from = next;
    next += 1000;
    if (from >= keys) {
      await client.set(`after-${from % 1000}`, "x").catch(() => {});
      continue;
    }
    await client.mset(Array.from({ length: 1000 }, (_, i) => ({ key: `k${from + i}`, value: "vvvvvvvv" }))).catch((e) => console.log("err", e.message));
  }
};
const ws = Array.from({ length: 8 }, writer);
let last = "";
const sampler = (async () => {
  while (!done) {
    await new Promise((r) => setTimeout(r, 500));
    const t = await terms().catch((e) => "?" + e.message);
    if (t !== last) {
      if (last && t.split(" ").some((x, i) => x.split("@")[0] !== last.split(" ")[i]?.split("@")[0])) elections++;
      console.log(`${((Date.now() - t0) / 1000).toFixed(1)}s keys~${Math.min(next, keys)} ${t}`);
      last = t;
    }
  }
})();
while (next < keys) await new Promise((r) => setTimeout(r, 200));
await new Promise((r) => setTimeout(r, 15000));
done = true;
await Promise.all([...ws, sampler]);
const m = await (await fetch(`${nodes[0].url}/metrics`)).text();
const snapshotsTaken = (m.match(/distcache_raft_driver\{counter="snapshotsTaken"\} (\d+)/) ?? [])[1] ?? "?";
console.log(`${snapshotsTaken} snapshots taken on ${nodes[0].nodeId}; ${elections} term change(s) after the first leaders`);
await client.close();
await Promise.all(nodes.map((n) => stopNode(n)));
rmSync(dataRoot, { recursive: true, force: true });
