// How long Stats with include_digests holds a node's event loop: one node (12 shards)
// is loaded with --keys keys through MSet batches, then Stats {includeDigests: true} is
// called --runs times while a loop of sequential Gets runs against the same node. For
// each call it reports the call's duration, the longest gap between two consecutive Get
// answers during it, and the node's own worst event-loop delay over the call
// (prom-client's nodejs_eventloop_lag_max_seconds, reset by the scrape before it;
// it samples every 10 ms, so an idle loop reports about 10 ms). Medians over the runs.
// The node is stopped by PID.
//
//   npm run build && node tools/bench/digest-delay.mjs [--keys 1000000] [--value-bytes 100] [--runs 5]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startNode, stopNode } from "../scripts/local-nodes.mjs";

const { values } = parseArgs({
  options: {
    keys: { type: "string", default: "1000000" },
    "value-bytes": { type: "string", default: "100" },
    batch: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "4" },
    runs: { type: "string", default: "5" },
  },
});
const keys = Number(values.keys);
const batch = Number(values.batch);
const value = "v".repeat(Number(values["value-bytes"]));
const dataDir = mkdtempSync(join(tmpdir(), "distcache-digest-delay-"));
const args = ["--entries-max", String(keys * 2), "--bytes-max", String(Math.max(keys * 2 * (value.length + 200), 256 * 1024 * 1024))];
const node = await startNode({ nodeId: "n1", dataDir, args, startTimeoutMs: 60_000 });
process.on("exit", () => {
  try {
    process.kill(node.pid, "SIGKILL");
  } catch {
    // already gone
  }
  rmSync(dataDir, { recursive: true, force: true });
});
for (const signal of ["SIGINT", "SIGTERM", "SIGPIPE"]) process.on(signal, () => process.exit(130));

async function call(method, body) {
  const response = await fetch(`${node.url}/distcache.v1.CacheService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method}: ${response.status} ${text}`);
  return JSON.parse(text);
}

async function loopLagMaxMs() {
  const body = await (await fetch(`${node.url}/metrics`)).text();
  const line = body.split("\n").find((l) => l.startsWith("distcache_process_nodejs_eventloop_lag_max_seconds "));
  return line ? Number(line.split(" ").pop()) * 1000 : NaN;
}

// Load.
const loadStarted = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: Number(values.concurrency) }, async () => {
    for (;;) {
      const start = next;
      if (start >= keys) return;
      next += batch;
      const items = [];
      for (let i = start; i < Math.min(keys, start + batch); i++) items.push({ key: `key-${i}`, text: value });
      await call("MSet", { items });
    }
  }),
);
const loaded = await call("Stats", {});
console.log(`loaded ${loaded.total.keys} keys in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`);

// Measure.
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = { statsMs: [], gapMs: [], lagMs: [] };
for (let run = 0; run < Number(values.runs); run++) {
  await new Promise((r) => setTimeout(r, 500));
  let stop = false;
  let gap = 0;
  const reads = (async () => {
    let last = performance.now();
    let i = 0;
    while (!stop) {
      await call("Get", { key: `key-${(i++ * 7919) % keys}`, consistency: "CONSISTENCY_EVENTUAL" });
      const now = performance.now();
      gap = Math.max(gap, now - last);
      last = now;
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
  gap = 0;
  await loopLagMaxMs(); // resets the node's histogram
  const started = performance.now();
  const stats = await call("Stats", { includeDigests: true });
  rows.statsMs.push(performance.now() - started);
  rows.gapMs.push(gap);
  rows.lagMs.push(await loopLagMaxMs());
  stop = true;
  await reads;
  if (stats.shards.some((s) => s.digest === "")) throw new Error("a shard came back without its digest");
  const [statsMs, gapMs, lagMs] = [rows.statsMs, rows.gapMs, rows.lagMs].map((column) => column.at(-1).toFixed(0));
  console.log(`run ${run + 1}: Stats ${statsMs} ms, longest Get gap ${gapMs} ms, node event-loop delay max ${lagMs} ms`);
}
console.log(`| keys | Stats with include_digests (ms) | longest gap between Get answers (ms) | node's worst event-loop delay (ms) |`);
console.log(`| ---: | ---: | ---: | ---: |`);
console.log(`| ${loaded.total.keys} | ${median(rows.statsMs).toFixed(0)} | ${median(rows.gapMs).toFixed(0)} | ${median(rows.lagMs).toFixed(0)} |`);
await stopNode(node);
