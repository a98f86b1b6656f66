// Liveness and memory: no node exits but by the nemesis (and every restart succeeds);
// each node's RSS, sampled every second, ends at no more than rssRatioMax times its
// median over the run's second half. Also each process's CPU share, for the report.
import { CLOCK_TICKS } from "./proc-stats.mjs";

/** A node's first seconds after a start, when its heap grows as it warms up: not judged. */
export const RSS_WARMUP_MS = 10_000;

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * @param {import("./nodes.mjs").ChaosCluster} cluster
 * @param {{ secondHalfFromMs: number, rssRatioMax: number, samplesMin: number }} options
 */
export function checkHealth(cluster, options) {
  const rss = [];
  for (const m of cluster.members.values()) {
    // A node removed from the cluster is judged no more: the checks look at the final members.
    if (m.state === "removed") {
      rss.push({ id: m.id, judged: false, samples: 0, note: `removed from the cluster at +${(m.removedAtMs / 1000).toFixed(1)} s` });
      continue;
    }
    const last = m.incarnations.at(-1);
    // Only the last incarnation's samples, from RSS_WARMUP_MS after it started: a restart
    // starts from a small heap again, which grows as the node warms up.
    const fromMs = Math.max(options.secondHalfFromMs, (last?.startedMs ?? 0) + RSS_WARMUP_MS);
    const samples = m.rss.filter((s) => s.pid === last?.pid && s.t >= fromMs);
    if (samples.length < options.samplesMin) {
      const restarted = ((last?.startedMs ?? 0) / 1000).toFixed(1);
      const note = `${samples.length} samples of its last incarnation in the second half, ${RSS_WARMUP_MS / 1000} s after its start (+${restarted} s)`;
      rss.push({ id: m.id, judged: false, samples: samples.length, note });
      continue;
    }
    const med = median(samples.map((s) => s.rss));
    const end = samples.at(-1).rss;
    const max = Math.max(...samples.map((s) => s.rss));
    const ok = end <= options.rssRatioMax * med;
    rss.push({ id: m.id, judged: true, samples: samples.length, medianBytes: med, endBytes: end, maxBytes: max, ratio: end / med, ok });
  }
  return {
    exits: cluster.exits,
    startFailures: cluster.startFailures,
    crashes: cluster.crashes,
    crashFailures: cluster.crashFailures,
    rss,
    clockTicks: CLOCK_TICKS,
  };
}

/**
 * CPU used by every process of the run, as a share of one core over the time it ran.
 * @param {import("./nodes.mjs").ChaosCluster} cluster
 * @param {{ harnessCpu: NodeJS.CpuUsage, wallMs: number, nowMs: number }} options
 */
export function cpuShares(cluster, options) {
  const rows = [];
  for (const m of cluster.members.values()) {
    let cpu = 0;
    let ranMs = 0;
    for (const inc of m.incarnations) {
      cpu += inc.cpuSeconds;
      ranMs += (inc.endedMs ?? options.nowMs) - inc.startedMs;
    }
    rows.push({ name: m.id, cpuSeconds: cpu, ranSeconds: ranMs / 1000, share: ranMs > 0 ? cpu / (ranMs / 1000) : 0, incarnations: m.incarnations.length });
  }
  const harness = (options.harnessCpu.user + options.harnessCpu.system) / 1e6;
  const ranSeconds = options.wallMs / 1000;
  rows.push({ name: "harness (workload, proxies, checks)", cpuSeconds: harness, ranSeconds, share: harness / ranSeconds, incarnations: 1 });
  return rows;
}
