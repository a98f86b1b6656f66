// distcache: a local 3-node cluster with fresh data dirs and durable writes (an fdatasync
// of the log before a majority acknowledges), reached through the SDK with client routing.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NODE_MAIN, planCluster, startCluster, startMember, stopNode } from "../../../scripts/local-nodes.mjs";
import { samplesOf, sumOf } from "./metrics-text.mjs";

export const distcache = {
  name: "distcache",
  label: "distcache (3 nodes)",
  missing: () => (existsSync(NODE_MAIN) ? undefined : `${NODE_MAIN} is not built: run npm run build`),
  async start() {
    const dataRoot = mkdtempSync(join(tmpdir(), "distcache-bench-"));
    const plan = await planCluster({ count: 3 });
    const nodes = await startCluster(plan, { dataRoot, logLevel: "warn" });
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
        let accountedBytes = 0;
        const terms = new Map();
        for (const url of urls) {
          const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
          fsyncs += sumOf(text, "distcache_raft_driver", 'counter="syncs"');
          accountedBytes += sumOf(text, "distcache_store_bytes");
          for (const [labels, term] of samplesOf(text, "distcache_shard_term")) terms.set(labels, Math.max(terms.get(labels) ?? 0, term));
        }
        return { fsyncs, accountedBytes, elections: [...terms.values()].reduce((a, b) => a + b, 0) };
      },
      urls: () => [...urls],
      /** Kills node `id` with SIGKILL; resolves, once it is gone, with the time the signal was sent. */
      async kill(id) {
        const victim = nodes.find((n) => n.nodeId === id);
        if (!victim) throw new Error(`no node ${id} to kill (nodes: ${nodes.map((n) => n.nodeId).join(", ")})`);
        const at = performance.now();
        await stopNode(victim, "SIGKILL");
        return at;
      },
      /** Starts node `id` again on its data dir; resolves once its /readyz answers 200. */
      async restart(id) {
        const index = nodes.findIndex((n) => n.nodeId === id);
        if (index < 0) throw new Error(`no node ${id} to restart`);
        const again = await startMember(plan, nodes[index].nodeId, { dataRoot, logLevel: "warn", startTimeoutMs: 600_000 });
        nodes[index] = again;
        urls[index] = again.url;
        for (;;) {
          const ready = await fetch(`${again.url}/readyz`, { signal: AbortSignal.timeout(5000) }).then(
            (r) => r.status === 200,
            () => false,
          );
          if (ready) return;
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      /** Kills the last node with SIGKILL and starts it again on its data dir; resolves once its /readyz answers 200. */
      async restartOne() {
        const id = nodes.at(-1).nodeId;
        await this.kill(id);
        const started = performance.now();
        await this.restart(id);
        return { node: id, seconds: (performance.now() - started) / 1000 };
      },
      async stop() {
        await Promise.all(nodes.map((n) => stopNode(n, "SIGTERM")));
        rmSync(dataRoot, { recursive: true, force: true });
      },
    };
  },
};
