// Kills the leader of one shard with SIGKILL, again and again, under steady writes,
// and reports how long writes to that shard were unavailable each time (from the kill
// to the first acknowledged write). Afterwards every acknowledged write is read back
// with STRONG consistency. Every process it starts is stopped by PID.
//
//   npm run build && node tools/chaos/leader-kill.mjs [--rounds 10] [--shard 2]
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CacheService, Consistency, SetRequestSchema } from "@distcache/proto";
import { Ring } from "@distcache/ring";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { planCluster, startCluster, startMember, stopNode } from "../scripts/local-nodes.mjs";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "10" }, shard: { type: "string", default: "2" } } });
const rounds = Number(values.rounds);
const shard = Number(values.shard);
const ring = new Ring(Array.from({ length: 12 }, (_, i) => i));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dataRoot = mkdtempSync(join(tmpdir(), "distcache-chaos-"));
const plan = await planCluster({ count: 3 });
const nodes = new Map((await startCluster(plan, { dataRoot })).map((n) => [n.nodeId, n]));
const clients = new Map([...nodes].map(([id, n]) => [id, createClient(CacheService, createConnectTransport({ baseUrl: n.url, httpVersion: "1.1" }))]));

async function leaderOf(exclude) {
  for (;;) {
    for (const [id, client] of clients) {
      if (id === exclude) continue;
      const stats = await client.stats({}, { timeoutMs: 500 }).catch(() => undefined);
      const leader = stats?.shards.find((s) => s.shard === shard)?.leaderId;
      if (leader && leader !== exclude) return leader;
    }
    await sleep(20);
  }
}

let seq = 0;
const keyOnShard = () => {
  for (;;) {
    const key = `chaos-${seq++}`;
    if (ring.shardFor(key) === shard) return key;
  }
};

const acked = new Map();
const outagesMs = [];
try {
  for (let round = 0; round < rounds; round++) {
    const victim = await leaderOf();
    const writers = [...clients.keys()].filter((id) => id !== victim);
    let killedAt = 0;
    let recoveredAt = 0;
    let stop = false;
    const loops = writers.flatMap((id) =>
      [0, 1].map(async () => {
        const client = clients.get(id);
        while (!stop) {
          const key = keyOnShard();
          const value = `r${round}-${key}`;
          const startedAt = performance.now();
          try {
            await client.set(create(SetRequestSchema, { key, payload: { case: "text", value } }), { timeoutMs: 2000 });
            acked.set(key, value);
            // Only a write sent after the kill shows that the shard serves again.
            if (killedAt && startedAt >= killedAt && !recoveredAt) recoveredAt = performance.now();
          } catch {
            await sleep(5);
          }
        }
      }),
    );
    await sleep(300);
    process.kill(nodes.get(victim).pid, "SIGKILL");
    killedAt = performance.now();
    while (!recoveredAt && performance.now() - killedAt < 15_000) await sleep(5);
    stop = true;
    await Promise.all(loops);
    const outage = recoveredAt ? recoveredAt - killedAt : Infinity;
    outagesMs.push(outage);
    console.log(`round ${round + 1}: killed ${victim}, writes resumed after ${outage.toFixed(0)} ms`);
    await stopNode(nodes.get(victim), "SIGKILL");
    nodes.set(victim, await startMember(plan, victim, { dataRoot }));
  }
  const reader = clients.get([...clients.keys()][0]);
  const keys = [...acked.keys()];
  let lost = 0;
  for (let i = 0; i < keys.length; i += 500) {
    const chunk = keys.slice(i, i + 500);
    const got = await reader.mGet({ keys: chunk, consistency: Consistency.STRONG });
    got.results.forEach((r, j) => {
      if (r.payload.case !== "text" || r.payload.value !== acked.get(chunk[j])) lost++;
    });
  }
  const sorted = [...outagesMs].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  console.log(
    JSON.stringify({ rounds, medianOutageMs: Math.round(median), maxOutageMs: Math.round(sorted.at(-1)), ackedWrites: acked.size, lostWrites: lost }),
  );
  if (lost > 0 || sorted.at(-1) > 5000) process.exitCode = 1;
} finally {
  await Promise.all([...nodes.values()].map((n) => stopNode(n, "SIGKILL")));
  rmSync(dataRoot, { recursive: true, force: true });
}
