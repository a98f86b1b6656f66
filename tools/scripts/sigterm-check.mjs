// SIGTERM under load: starts a local 3-node cluster, writes to it from SDK callers, then
// sends every node SIGTERM and times how long each takes to exit; repeated --rounds times.
//
//   node tools/scripts/sigterm-check.mjs [--rounds 20] [--load-ms 1500] [--limit-ms 10000] [--node-args "--snapshot-entries 1"]
//
// Exits 0 when every node of every round exited by itself within --limit-ms (a node still
// running then is killed with SIGKILL and counted as a failure). Every process it starts
// is stopped by PID.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createNodeCacheClient } from "@distcache/client/node";
import { planCluster, startCluster, stopNode } from "./local-nodes.mjs";
import { exitFlushed } from "./exit-flushed.mjs";

const { values: o } = parseArgs({
  options: {
    rounds: { type: "string", default: "20" },
    "load-ms": { type: "string", default: "1500" },
    "limit-ms": { type: "string", default: "10000" },
    "node-args": { type: "string", default: "--snapshot-entries 1" },
  },
});
const [rounds, loadMs, limitMs] = [o.rounds, o["load-ms"], o["limit-ms"]].map(Number);
const args = o["node-args"].split(" ").filter(Boolean);
let failures = 0;
const worst = [];

for (let round = 1; round <= rounds; round++) {
  const dataRoot = mkdtempSync(join(tmpdir(), "distcache-sigterm-"));
  const nodes = await startCluster(await planCluster({ count: 3 }), { dataRoot, args });
  const client = createNodeCacheClient({ endpoints: nodes.map((n) => n.url), timeoutMs: 5000 });
  let writes = 0;
  let stop = false;
  const load = Array.from({ length: 16 }, async (_, c) => {
    for (let i = 0; !stop; i++) {
      await client.set(`k${c}:${i % 50}`, `v${i}`).then(
        () => writes++,
        () => undefined,
      );
    }
  });
  await new Promise((r) => setTimeout(r, loadMs));
  const started = performance.now();
  const exits = await Promise.all(
    nodes.map(
      (n) =>
        new Promise((resolve) => {
          n.child.once("exit", (code, signal) => resolve({ id: n.nodeId, ms: performance.now() - started, code, signal }));
          process.kill(n.pid, "SIGTERM");
        }),
    ),
  );
  // SIGKILL whatever is still running after the limit (stopNode does, by PID).
  await Promise.all(nodes.map((n) => stopNode(n, "SIGTERM", limitMs)));
  stop = true;
  await client.close();
  await Promise.allSettled(load);
  const slow = exits.filter((e) => e.ms > limitMs || e.signal === "SIGKILL" || e.code !== 0);
  failures += slow.length;
  const longest = Math.max(...exits.map((e) => e.ms));
  worst.push(longest);
  const exitList = exits.map((e) => `${e.id} ${Math.round(e.ms)} ms (code ${e.code ?? e.signal})`).join(", ");
  console.log(`round ${round}: ${writes} writes under load; exits ${exitList}${slow.length ? "  ← over the limit" : ""}`);
  rmSync(dataRoot, { recursive: true, force: true });
}
worst.sort((a, b) => a - b);
const roundsWithin = rounds - worst.filter((w) => w > limitMs).length;
const [medianMs, maxMs] = [worst[Math.floor(worst.length / 2)], worst[worst.length - 1]].map(Math.round);
console.log(`${roundsWithin} of ${rounds} rounds stopped every node within ${limitMs} ms; slowest node per round: median ${medianMs} ms, max ${maxMs} ms`);
await exitFlushed(failures === 0 ? 0 : 1);
