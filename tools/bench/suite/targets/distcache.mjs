// distcache: a local 3-node cluster with fresh data dirs and durable writes (an fdatasync
// of the log before a majority acknowledges), reached through the SDK with client routing.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NODE_MAIN, planCluster, startCluster, stopNode } from "../../../scripts/local-nodes.mjs";
import { samplesOf } from "./metrics-text.mjs";

export const distcache = {
  name: "distcache",
  label: "distcache (3 nodes)",
  missing: () => (existsSync(NODE_MAIN) ? undefined : `${NODE_MAIN} is not built: run npm run build`),
  async start() {
    const dataRoot = mkdtempSync(join(tmpdir(), "distcache-bench-"));
    const nodes = await startCluster(await planCluster({ count: 3 }), { dataRoot, logLevel: "warn" });
    const urls = nodes.map((n) => n.url);
    return {
      version: "this tree",
      pids: () => nodes.map((n) => n.pid),
      // Connect JSON for wrk: every request to one node, which forwards what it does not lead.
      jsonUrl: async () => urls[0],
      driver: (workload) =>
        workload.batch > 1 || workload.routing !== "one-node"
          ? { kind: "distcache-sdk", endpoints: urls, batch: workload.batch }
          : { kind: "connect", endpoints: [urls[0]] },
      async counters() {
        let fsyncs = 0;
        const terms = new Map();
        for (const url of urls) {
          const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
          fsyncs += Number(/distcache_raft_driver\{counter="syncs"\} (\d+)/.exec(text)?.[1] ?? 0);
          for (const [labels, term] of samplesOf(text, "distcache_shard_term")) terms.set(labels, Math.max(terms.get(labels) ?? 0, term));
        }
        return { fsyncs, elections: [...terms.values()].reduce((a, b) => a + b, 0) };
      },
      async stop() {
        await Promise.all(nodes.map((n) => stopNode(n, "SIGTERM")));
        rmSync(dataRoot, { recursive: true, force: true });
      },
    };
  },
};
