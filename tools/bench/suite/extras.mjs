// The full run's measurements beyond throughput and latency: memory per key at many keys
// against Redis, and how long a distcache node takes to restart holding them.
import { readProcStat } from "../../chaos/proc-stats.mjs";
import { runGenerator } from "./generator/run.mjs";

const rssOf = (pids) => pids.reduce((sum, pid) => sum + (readProcStat(pid)?.rssBytes ?? 0), 0);
const settle = () => new Promise((r) => setTimeout(r, 3000));

/**
 * Loads `keys` keys of `valueBytes` (MSet of 100 at a time) into a running target and
 * gives the growth per key of its resident memory, per copy of the data (distcache's
 * three nodes each hold every key), and of its own accounting (Redis's used_memory,
 * distcache's accounted store bytes).
 */
export async function memoryPerKey(handle, { keys, valueBytes, copies }) {
  const pids = handle.pids();
  const before = { rss: rssOf(pids), accounted: (await handle.counters()).accountedBytes ?? null };
  const driver = { ...(await handle.driver({ batch: 100 })), valueBytes, batch: 100 };
  const started = performance.now();
  const load = await runGenerator({
    driver,
    workers: 2,
    concurrency: 8,
    seconds: 0,
    warmupSeconds: 0,
    keys,
    distribution: "uniform",
    readShare: 0,
    preload: true,
    step: 100,
  });
  const loadSeconds = (performance.now() - started) / 1000;
  if (load.failed > 0) throw new Error(`loading ${keys} keys failed ${load.failed} times (${JSON.stringify(load.errors)})`);
  await settle();
  const after = { rss: rssOf(pids), accounted: (await handle.counters()).accountedBytes ?? null };
  return {
    keys,
    valueBytes,
    loadSeconds: Number(loadSeconds.toFixed(1)),
    rssBytesPerKey: Math.round((after.rss - before.rss) / copies / keys),
    accountedBytesPerKey: after.accounted === null ? null : Math.round((after.accounted - before.accounted) / copies / keys),
  };
}

/** Restarts one distcache node (SIGKILL, then the same data dir) and times it until /readyz answers. */
export async function restartTime(handle) {
  const { seconds, node } = await handle.restartOne();
  return { node, seconds: Number(seconds.toFixed(2)) };
}
