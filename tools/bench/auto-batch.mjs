// The SDK's coalescing of concurrent calls into Batch requests, off and then on, against
// one local 3-node cluster: throughput, p50, CPU per operation summed over the nodes, and
// the calls each Batch carried (from the nodes' metrics).
//
//   npm run build && node tools/bench/auto-batch.mjs [--op write|read] [--concurrency 64] [--seconds 5] [--rounds 3]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readProcStat } from "../chaos/proc-stats.mjs";
import { planCluster, startCluster, stopNode } from "../scripts/local-nodes.mjs";
import { runGenerator } from "./suite/generator/run.mjs";
import { samplesOf } from "./suite/targets/metrics-text.mjs";

const { values } = parseArgs({
  options: {
    op: { type: "string", default: "write" },
    concurrency: { type: "string", default: "64" },
    seconds: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
  },
});

/** Requests and batched calls the nodes counted so far. */
async function counted(urls) {
  let requests = 0;
  let batches = 0;
  let batchedCalls = 0;
  for (const url of urls) {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const [labels, n] of samplesOf(text, "distcache_requests_total")) {
      if (/method="(Get|Set)"/.test(labels)) requests += n;
      if (/method="Batch"/.test(labels)) batches += n;
    }
    for (const [, n] of samplesOf(text, "distcache_batch_calls_total")) batchedCalls += n;
  }
  return { requests, batches, batchedCalls };
}

const cpuSeconds = (nodes) => nodes.reduce((sum, n) => sum + (readProcStat(n.pid)?.cpuSeconds ?? 0), 0);

const dataRoot = mkdtempSync(join(tmpdir(), "distcache-auto-batch-"));
const nodes = await startCluster(await planCluster({ count: 3 }), { dataRoot, logLevel: "warn" });
const urls = nodes.map((n) => n.url);
const rows = [];
try {
  await new Promise((r) => setTimeout(r, 1500));
  const load = (autoBatch, seconds, preload = false) =>
    runGenerator({
      driver: { kind: "distcache-sdk", endpoints: urls, valueBytes: 100, autoBatch },
      workers: 2,
      concurrency: Number(values.concurrency),
      seconds,
      warmupSeconds: preload ? 0 : 1,
      keys: 10_000,
      distribution: "uniform",
      readShare: values.op === "read" ? 1 : 0,
      preload,
    });
  if (values.op === "read") await load(true, 0, true);
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const autoBatch of round % 2 === 0 ? [false, true] : [true, false]) {
      const before = await counted(urls);
      const cpuBefore = cpuSeconds(nodes);
      const result = await load(autoBatch, Number(values.seconds));
      const cpu = cpuSeconds(nodes) - cpuBefore;
      const after = await counted(urls);
      const batches = after.batches - before.batches;
      const row = {
        autoBatch,
        opsPerSecond: result.opsPerSecond,
        p50Us: result.latencyUs.p50,
        failed: result.failed,
        // Over the whole load, warm-up included, as the CPU is.
        cpuUsPerOp: Math.round((cpu * 1e6) / Math.max(1, result.acknowledged.read + result.acknowledged.write)),
        callsPerBatch: batches > 0 ? Number(((after.batchedCalls - before.batchedCalls) / batches).toFixed(1)) : 0,
        loneCalls: after.requests - before.requests,
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
} finally {
  await Promise.all(nodes.map((n) => stopNode(n)));
  rmSync(dataRoot, { recursive: true, force: true });
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const autoBatch of [false, true]) {
  const mine = rows.filter((r) => r.autoBatch === autoBatch);
  console.log(
    `${values.op} c${values.concurrency}, auto-batching ${autoBatch ? "on" : "off"}: median ${median(mine.map((r) => r.opsPerSecond))} ops/s, ` +
      `p50 ${median(mine.map((r) => r.p50Us))} µs, ${median(mine.map((r) => r.cpuUsPerOp))} µs CPU/op, ` +
      `${median(mine.map((r) => r.callsPerBatch))} calls per Batch`,
  );
}
