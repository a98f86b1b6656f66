// wrk (64 connections, Connect JSON) against one node of a fresh local 3-node cluster,
// which forwards the writes it does not lead: throughput, p50 and CPU per request summed
// over the nodes, the median of alternating rounds, and each node's user and system CPU
// per request. --node-main runs other builds of the node, to compare them on one machine.
// Copy another build's apps/cache-node/dist into this tree's (apps/cache-node/dist/old/,
// say) and pass apps/cache-node/dist/old/main.js: the same code run from another checkout
// measured about a quarter slower on a 2-core machine, which would skew the comparison.
//
//   npm run build && node tools/bench/wrk-one-node.mjs [--op write|read] [--consistency strong|eventual]
//       [--seconds 5] [--rounds 3] [--node-main PATH[,PATH...]]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readProcStat } from "../chaos/proc-stats.mjs";
import { NODE_MAIN, planCluster, startCluster, stopNode } from "../scripts/local-nodes.mjs";
import { distcacheWrkRequests, runWrk, wrkMissing } from "./suite/wrk.mjs";

const { values } = parseArgs({
  options: {
    op: { type: "string", default: "write" },
    consistency: { type: "string", default: "strong" },
    seconds: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    "node-main": { type: "string", default: NODE_MAIN },
  },
});
const missing = wrkMissing();
if (missing) throw new Error(missing);

async function measure(main) {
  const dataRoot = mkdtempSync(join(tmpdir(), "distcache-wrk-one-node-"));
  const nodes = await startCluster(await planCluster({ count: 3 }), { dataRoot, logLevel: "warn", nodeMain: main });
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const url = nodes[0].url;
    const { path, bodies } = await distcacheWrkRequests({ url, op: values.op, consistency: values.consistency, connections: 64 });
    await runWrk({ url, path, bodies, seconds: 1, connections: 64 });
    const cpu = () => nodes.reduce((sum, n) => sum + (readProcStat(n.pid)?.cpuSeconds ?? 0), 0);
    const before = cpu();
    const splitBefore = nodes.map((n) => readProcStat(n.pid));
    const result = await runWrk({ url, path, bodies, seconds: Number(values.seconds), connections: 64 });
    const requests = result.opsPerSecond * result.seconds;
    return {
      opsPerSecond: Math.round(result.opsPerSecond),
      p50Us: result.latencyUs?.p50 ?? null,
      failed: result.failed,
      cpuUsPerOp: Math.round(((cpu() - before) * 1e6) / requests),
      // Per node, user and system CPU µs per request: where the time goes.
      userSystemUsPerOp: nodes.map((n, i) => {
        const now = readProcStat(n.pid);
        const perOp = (field) => Math.round((((now?.[field] ?? 0) - (splitBefore[i]?.[field] ?? 0)) * 1e6) / requests);
        return `${perOp("userSeconds")}+${perOp("systemSeconds")}`;
      }),
    };
  } finally {
    await Promise.all(nodes.map((n) => stopNode(n)));
    rmSync(dataRoot, { recursive: true, force: true });
  }
}

const builds = values["node-main"].split(",");
const rows = builds.map(() => []);
for (let round = 0; round < Number(values.rounds); round++) {
  for (const [i] of builds.entries()) {
    const b = (i + round) % builds.length;
    const row = await measure(builds[b]);
    rows[b].push(row);
    console.log(JSON.stringify({ build: builds[b], round: round + 1, ...row }));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [b, build] of builds.entries()) {
  const r = rows[b];
  console.log(
    `${build}: wrk ${values.op}${values.op === "read" ? ` ${values.consistency}` : ""} through one node: median ${median(r.map((x) => x.opsPerSecond))}/s, ` +
      `p50 ${median(r.map((x) => x.p50Us))} µs, ${median(r.map((x) => x.cpuUsPerOp))} µs CPU per request`,
  );
}
