// The workloads of a run. Each names its operation mix, keys, value size, concurrency and
// whether it is closed-loop (throughput) or open-loop at a fixed rate (latency).

const KEYS = 10_000;

function workload(fields) {
  const w = { keys: KEYS, distribution: "uniform", valueBytes: 100, concurrency: 64, batch: 1, consistency: "strong", ...fields };
  w.id ??= [
    w.tool === "wrk" ? "wrk" : "",
    w.mix,
    w.consistency !== "strong" && w.mix !== "write" ? w.consistency : "",
    w.distribution,
    `${w.valueBytes}B`,
    `c${w.concurrency}`,
    w.batch > 1 ? `batch${w.batch}` : "",
    w.autoBatch === false ? "unbatched" : "",
  ]
    .filter(Boolean)
    .join("-");
  return w;
}

const MIXES = { write: 0, read: 1, "95/5": 0.95 };

/** The workloads of a mode: "smoke" (npm test), "quick" (under 2 minutes) or "full". */
export function planFor(mode) {
  const base = (mix, extra = {}) => workload({ mix, readShare: MIXES[mix], ...extra });
  const wrk = [base("write", { tool: "wrk" }), base("read", { tool: "wrk" }), base("read", { tool: "wrk", consistency: "eventual" })];
  if (mode === "smoke") return [base("write"), base("read"), wrk[0]];
  if (mode === "quick") return [base("write"), base("read"), wrk[0]];
  const sweep = [1, 4, 16, 64, 256].flatMap((c) => [base("write", { concurrency: c, sweep: true }), base("read", { concurrency: c, sweep: true })]);
  return [
    base("write"),
    base("read"),
    base("read", { consistency: "eventual" }),
    base("95/5"),
    base("write", { distribution: "zipf" }),
    base("read", { distribution: "zipf" }),
    base("write", { valueBytes: 1024 }),
    base("read", { valueBytes: 1024 }),
    ...sweep.filter((w) => w.concurrency !== 64),
    // distcache only: the SDK with its coalescing of concurrent calls into Batch requests off,
    // and STRONG reads one at a time through one node (two thirds of the keys led elsewhere).
    base("write", { autoBatch: false }),
    base("read", { autoBatch: false }),
    base("read", { concurrency: 1, routing: "one-node", id: "read-one-node-c1" }),
    base("write", { batch: 100, concurrency: 16 }),
    base("read", { batch: 100, concurrency: 16 }),
    // Open loop at half of each target's closed-loop rate for the same mix: corrected latencies.
    base("write", { openLoopShare: 0.5, id: "write-open-loop-half-rate" }),
    base("read", { openLoopShare: 0.5, id: "read-open-loop-half-rate" }),
    ...wrk,
  ];
}

/**
 * By mode: seconds per measurement and of the warm-up before each, of the unmeasured load
 * on each target before the first round (primeSeconds), rounds, the keys of the memory
 * measurement (0: none), the leader kills of the failover measurement and the size of
 * the hit-ratio replay.
 */
export const TIMING = {
  smoke: { seconds: 1, warmupSeconds: 0.3, primeSeconds: 0.5, rounds: 1, memoryKeys: 20_000, failoverKills: 1, hitRatio: { universe: 5_000, length: 50_000 } },
  quick: { seconds: 1.5, warmupSeconds: 0.3, primeSeconds: 1, rounds: 3, memoryKeys: 0, failoverKills: 0, hitRatio: { universe: 20_000, length: 200_000 } },
  full: {
    seconds: 5,
    warmupSeconds: 1,
    primeSeconds: 4,
    rounds: 3,
    memoryKeys: 1_000_000,
    failoverKills: 10,
    hitRatio: { universe: 100_000, length: 1_000_000 },
  },
};
