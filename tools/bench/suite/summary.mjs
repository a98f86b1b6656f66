// From a run's measurements to its figures: per workload and target the median over
// rounds, and each peer's ratio to distcache as the median of the per-round ratios.

export const median = (xs) => {
  const sorted = xs.filter((x) => x !== null && x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b);
  return sorted.length === 0 ? null : sorted[Math.floor(sorted.length / 2)];
};

const PERCENTILES = ["p50", "p90", "p99", "p999", "max"];

/** The median of each figure over a target's rounds of one workload. */
export function summarize(rounds) {
  const pick = (f) => median(rounds.map(f));
  return {
    rounds: rounds.length,
    opsPerSecond: pick((r) => r.opsPerSecond),
    keysPerSecond: pick((r) => r.keysPerSecond),
    latencyUs: Object.fromEntries(PERCENTILES.map((p) => [p, pick((r) => r.latencyUs[p])])),
    cpuUsPerOp: pick((r) => r.cpuUsPerOp),
    fsyncsPerWrite: pick((r) => r.fsyncsPerWrite),
    elections: rounds.reduce((n, r) => n + (r.elections ?? 0), 0),
    failed: rounds.reduce((n, r) => n + r.failed, 0),
    generatorCpuShare: pick((r) => r.generatorCpuShare),
    serverCpuShare: pick((r) => r.serverCpuShare),
  };
}

/**
 * distcache's throughput over each other target's, per closed-loop workload: the median of
 * the per-round ratios. (An open-loop workload's rate is set from the closed-loop one, so
 * its throughput ratio says nothing new; its figures are latencies.)
 */
export function ratios(results, openLoop = new Set()) {
  const out = [];
  for (const [workload, byTarget] of Object.entries(results)) {
    if (openLoop.has(workload)) continue;
    const ours = byTarget["distcache"]?.rounds;
    if (!ours) continue;
    for (const [target, entry] of Object.entries(byTarget)) {
      if (target === "distcache") continue;
      const perRound = ours.map((r, i) => (entry.rounds[i]?.opsPerSecond ? r.opsPerSecond / entry.rounds[i].opsPerSecond : null));
      const ratio = median(perRound);
      if (ratio !== null)
        out.push({ workload, versus: target, ratio: Number(ratio.toFixed(3)), perRound: perRound.map((x) => (x === null ? null : Number(x.toFixed(3)))) });
    }
  }
  return out;
}
