// What watchers cost the write path: durable Set throughput of a local 3-node cluster
// with no watcher, 100 watchers on prefixes that match nothing, 1 watcher on every key
// and 10 watchers on every key. The watchers live in a child process of their own, spread
// over the nodes, and read as fast as events come. Configurations alternate within each
// round; each ratio is the median over rounds of (configuration / no watcher) in the
// same round. It also gives the nodes' CPU per Set (summed over the three, from /proc),
// which the watchers' consumer process, sharing the machine, does not disturb as much.
//
//   npm run build && node tools/bench/watch-overhead.mjs [--seconds 8] [--rounds 3] [--concurrency 64] [--consumer-priority 19]
import { fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { setPriority, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readProcStat } from "../chaos/proc-stats.mjs";
import { planCluster, startCluster, stopNode } from "../scripts/local-nodes.mjs";
import { runLoad } from "./load/run.mjs";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "8" },
    rounds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "64" },
    "consumer-priority": { type: "string", default: "19" },
  },
});
const CONFIGS = [
  { name: "no watcher", prefixes: [] },
  { name: "100 watchers, prefixes matching nothing", prefixes: Array.from({ length: 100 }, (_, i) => `nomatch-${i}/`) },
  { name: "1 watcher on every key", prefixes: [""] },
  { name: "10 watchers on every key", prefixes: Array.from({ length: 10 }, () => "") },
];
const loadOptions = (targets) => ({
  targets,
  op: "set",
  workers: 2,
  concurrency: Number(values.concurrency),
  seconds: Number(values.seconds),
  warmupSeconds: 1,
  keys: 10000,
  valueBytes: 100,
});
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Starts the watchers of a configuration in a child process; resolves once every one has its first message. */
async function startWatchers(urls, prefixes) {
  if (prefixes.length === 0) return { stop: async () => ({ events: 0, failures: 0, cpuUs: 0 }) };
  const child = fork(fileURLToPath(new URL("./watch/consumer.mjs", import.meta.url)));
  // Consumers run elsewhere in a deployment: here, at the lowest priority, they take only
  // the CPU the nodes and the load processes leave (--consumer-priority 0 shares it evenly).
  setPriority(child.pid, Number(values["consumer-priority"]));
  await new Promise((resolve) => {
    child.once("message", resolve);
    child.send({ urls, prefixes });
  });
  return {
    stop: () =>
      new Promise((resolve) => {
        child.once("message", resolve);
        child.send("stop");
      }),
  };
}

/** Runs every configuration once per round, in an order that turns each round, so none always runs on the fuller logs. */
async function measure(nodes, results) {
  const urls = nodes.map((n) => n.url);
  const nodeCpu = () => nodes.reduce((sum, n) => sum + (readProcStat(n.pid)?.cpuSeconds ?? 0), 0);
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const config of CONFIGS.map((_, i) => CONFIGS[(i + round) % CONFIGS.length])) {
      const watchers = await startWatchers(urls, config.prefixes);
      const cpuBefore = nodeCpu();
      const load = await runLoad(loadOptions(urls));
      const cpuUsPerSet = ((nodeCpu() - cpuBefore) * 1e6) / (load.opsPerSecond * Number(values.seconds));
      const seen = await watchers.stop();
      results.get(config.name)[round] = { opsPerSecond: load.opsPerSecond, p99: load.latencyMs.p99, cpuUsPerSet, ...seen };
      console.error(
        `round ${round + 1}: ${config.name}: ${load.opsPerSecond} Set/s, p99 ${load.latencyMs.p99} ms, ` +
          `nodes' CPU ${Math.round(cpuUsPerSet)} µs per Set, watch events ${seen.events} (consumer CPU ${(seen.cpuUs / 1e6).toFixed(1)} s)`,
      );
    }
  }
}

async function main() {
  const dataRoot = mkdtempSync(join(tmpdir(), "distcache-watch-bench-"));
  const nodes = await startCluster(await planCluster({ count: 3 }), { dataRoot, logLevel: "warn" });
  const results = new Map(CONFIGS.map((c) => [c.name, []]));
  try {
    await new Promise((r) => setTimeout(r, 1500));
    // An unmeasured run first: the nodes' code is compiled and their logs allocated before the rounds.
    await runLoad({ ...loadOptions(nodes.map((n) => n.url)), seconds: 4 });
    await measure(nodes, results);
  } finally {
    await Promise.all(nodes.map((n) => stopNode(n, "SIGKILL")));
    rmSync(dataRoot, { recursive: true, force: true });
  }
  const base = results.get("no watcher");
  for (const config of CONFIGS) {
    const runs = results.get(config.name);
    console.log(
      JSON.stringify({
        config: config.name,
        setPerSecond: median(runs.map((r) => r.opsPerSecond)),
        ratioToNoWatcher: Number(median(runs.map((r, i) => r.opsPerSecond / base[i].opsPerSecond)).toFixed(3)),
        nodesCpuUsPerSet: Math.round(median(runs.map((r) => r.cpuUsPerSet))),
        cpuRatioToNoWatcher: Number(median(runs.map((r, i) => r.cpuUsPerSet / base[i].cpuUsPerSet)).toFixed(3)),
        consumerCpuSeconds: Number(median(runs.map((r) => r.cpuUs / 1e6)).toFixed(2)),
        p99Ms: median(runs.map((r) => r.p99)),
        eventsPerRound: runs.map((r) => r.events),
        watcherFailures: runs.reduce((n, r) => n + r.failures, 0),
        runs: runs.map((r) => r.opsPerSecond),
      }),
    );
  }
}

await main();
