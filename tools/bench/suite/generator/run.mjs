// Runs one load: `workers` processes share the concurrency (and, open-loop, the rate),
// and their HDR histograms are merged into one.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import hdr from "hdr-histogram-js";

const WORKER = fileURLToPath(new URL("./worker.mjs", import.meta.url));

/** Worker w's share of keys [0, keys), in whole steps of `step` keys (a batch each). */
function preloadRange(keys, step, w, workers) {
  const steps = Math.ceil(keys / step);
  return { from: Math.floor((steps * w) / workers) * step, to: Math.min(keys, Math.floor((steps * (w + 1)) / workers) * step), step };
}

/**
 * @param {{ driver: object, workers: number, concurrency: number, rate?: number, seconds: number, warmupSeconds: number,
 *           keys: number, distribution: "uniform" | "zipf", readShare: number, seed?: number }} load
 */
export async function runGenerator(load) {
  const workers = Math.max(1, Math.min(load.workers, load.concurrency));
  const results = await Promise.all(
    Array.from({ length: workers }, (_, w) => {
      const share = (total) => Math.floor(total / workers) + (w < total % workers ? 1 : 0);
      return new Promise((resolve, reject) => {
        // execArgv: flags for the workers' Node (--cpu-prof, to profile the client side).
        const child = fork(WORKER, { stdio: ["ignore", "inherit", "inherit", "ipc"], ...(load.execArgv ? { execArgv: load.execArgv } : {}) });
        child.send({
          driver: load.driver,
          concurrency: share(load.concurrency),
          rate: load.rate ? load.rate / workers : undefined,
          durationMs: load.seconds * 1000,
          warmupMs: load.warmupSeconds * 1000,
          keys: load.keys,
          distribution: load.distribution,
          readShare: load.readShare,
          seed: (load.seed ?? 1) * 101 + w,
          preload: load.preload ? preloadRange(load.keys, load.step ?? 1, w, workers) : undefined,
        });
        child.once("message", resolve);
        child.once("error", reject);
        child.once("exit", (code) => code !== 0 && reject(new Error(`load worker exited with ${code}`)));
      });
    }),
  );
  const merged = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  for (const r of results) merged.add(hdr.decodeFromCompressedBase64(r.histogram));
  const ok = results.reduce((n, r) => n + r.ok, 0);
  const errors = {};
  for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const us = (p) => (ok > 0 ? merged.getValueAtPercentile(p) : null);
  return {
    ok,
    failed: results.reduce((n, r) => n + r.failed, 0),
    errors,
    late: results.reduce((n, r) => n + r.late, 0),
    acknowledged: {
      read: results.reduce((n, r) => n + r.acknowledged.read, 0),
      write: results.reduce((n, r) => n + r.acknowledged.write, 0),
    },
    opsPerSecond: Math.round(ok / load.seconds),
    latencyUs: { p50: us(50), p90: us(90), p99: us(99), p999: us(99.9), max: ok > 0 ? merged.maxValue : null },
    histogram: hdr.encodeIntoCompressedBase64(merged),
    generatorCpuSeconds: results.reduce((n, r) => n + r.cpuUs, 0) / 1e6,
  };
}
