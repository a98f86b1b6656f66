// Failover as SDK callers see it, against a running cluster (npm start prints its
// endpoints and PIDs):
//
//   node tools/scripts/failover-check.mjs --endpoints http://127.0.0.1:7301,http://127.0.0.1:7302,http://127.0.0.1:7303 \
//     --pids 1234,1235,1236 [--callers 16] [--counters 20] [--duration-ms 15000] [--kill-at-ms 5000]
//
// Callers increment counters for the duration; at kill-at-ms the node leading the most
// shards (found by its client address among the endpoints, PIDs in the same order) is
// killed with SIGKILL. Exits 0 when no call failed and every counter equals the
// increments acknowledged for it, 1 otherwise.
import { parseArgs } from "node:util";
import { createNodeCacheClient } from "@distcache/client/node";
import { exitFlushed } from "./exit-flushed.mjs";

const { values: o } = parseArgs({
  options: {
    endpoints: { type: "string" },
    pids: { type: "string" },
    callers: { type: "string", default: "16" },
    counters: { type: "string", default: "20" },
    "duration-ms": { type: "string", default: "15000" },
    "kill-at-ms": { type: "string", default: "5000" },
    prefix: { type: "string", default: `failover-${Date.now()}` },
  },
});
if (!o.endpoints || !o.pids) {
  console.error("usage: node tools/scripts/failover-check.mjs --endpoints URL,URL,... --pids PID,PID,... (same order)");
  process.exit(2);
}
const endpoints = o.endpoints.split(",");
const pids = o.pids.split(",").map(Number);
const [callers, counters, durationMs, killAtMs] = [o.callers, o.counters, o["duration-ms"], o["kill-at-ms"]].map(Number);
const client = createNodeCacheClient({ endpoints, timeoutMs: 30_000 });
const acked = new Array(counters).fill(0);
const errors = [];
const started = Date.now();

async function caller(c) {
  for (let i = c; Date.now() - started < durationMs; i += callers) {
    const k = i % counters;
    try {
      await client.incr(`${o.prefix}:${k}`, 1);
      acked[k]++;
    } catch (err) {
      errors.push(`${err.name}: ${err.message}`);
    }
  }
}

async function killLeader() {
  await new Promise((r) => setTimeout(r, killAtMs));
  const topology = await client.topology();
  const led = (id) => topology.shards.filter((s) => s.leaderId === id).length;
  const victim = [...topology.nodes].sort((a, b) => led(b.id) - led(a.id))[0];
  const at = endpoints.findIndex((e) => new URL(e).host === victim.address || e.endsWith(victim.address));
  if (at < 0) throw new Error(`node ${victim.id} (${victim.address}) is not among the endpoints`);
  process.kill(pids[at], "SIGKILL");
  console.log(`killed ${victim.id} (pid ${pids[at]}), leader of ${led(victim.id)} shards, at ${Date.now() - started} ms`);
}

await Promise.all([...Array.from({ length: callers }, (_, c) => caller(c)), killLeader()]);
const values = await Promise.all(acked.map((_, k) => client.getText(`${o.prefix}:${k}`)));
const mismatched = values.map((v, k) => [k, Number(v ?? 0), acked[k]]).filter(([, v, a]) => v !== a);
await client.close();
console.log(`${callers} callers, ${acked.reduce((a, b) => a + b, 0)} increments acknowledged in ${durationMs} ms, ${errors.length} errors`);
for (const e of errors.slice(0, 10)) console.log(`  error: ${e}`);
console.log(
  mismatched.length === 0
    ? `every counter equals its acknowledged increments`
    : `counters off: ${mismatched.map(([k, v, a]) => `#${k} read ${v}, acked ${a}`).join("; ")}`,
);
await exitFlushed(errors.length === 0 && mismatched.length === 0 ? 0 : 1);
