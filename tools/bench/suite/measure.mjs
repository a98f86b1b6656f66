// One measurement: a workload against one running target, with the servers' CPU (from
// /proc, summed over every server process), their fsyncs and elections, and the
// generator's own CPU.
import os from "node:os";
import { readProcStat } from "../../chaos/proc-stats.mjs";
import { runGenerator } from "./generator/run.mjs";

const cpuOf = (pids) => pids.reduce((sum, pid) => sum + (readProcStat(pid)?.cpuSeconds ?? 0), 0);
const delta = (after, before) => (after === null || before === null || after === undefined || before === undefined ? null : after - before);

/**
 * @param {object} handle a started target
 * @param {object} workload from plan.mjs
 * @param {{ seconds: number, warmupSeconds: number, workers: number, rate?: number, seed: number }} run
 */
export async function measure(handle, workload, run) {
  const driver = { ...(await handle.driver(workload)), valueBytes: workload.valueBytes, consistency: workload.consistency, batch: workload.batch };
  const pids = handle.pids();
  const before = { cpu: cpuOf(pids), counters: await handle.counters(), at: performance.now() };
  const result = await runGenerator({
    driver,
    workers: run.workers,
    concurrency: workload.concurrency,
    rate: run.rate,
    seconds: run.seconds,
    warmupSeconds: run.warmupSeconds,
    keys: workload.keys - (workload.batch - 1),
    distribution: workload.distribution,
    readShare: workload.readShare,
    seed: run.seed,
  });
  const wallSeconds = (performance.now() - before.at) / 1000;
  const after = { cpu: cpuOf(pids), counters: await handle.counters() };
  const acknowledged = result.acknowledged.read + result.acknowledged.write;
  const fsyncs = delta(after.counters.fsyncs, before.counters.fsyncs);
  const { histogram, ...rest } = result;
  delete rest.acknowledged;
  return {
    ...rest,
    keysPerSecond: result.opsPerSecond * workload.batch,
    serverCpuSeconds: after.cpu - before.cpu,
    cpuUsPerOp: acknowledged > 0 ? Math.round(((after.cpu - before.cpu) * 1e6) / acknowledged) : null,
    fsyncsPerWrite: fsyncs === null || result.acknowledged.write === 0 ? null : Number((fsyncs / result.acknowledged.write).toFixed(3)),
    elections: delta(after.counters.elections, before.counters.elections),
    generatorCpuShare: Number((result.generatorCpuSeconds / (wallSeconds * os.availableParallelism())).toFixed(3)),
    serverCpuShare: Number(((after.cpu - before.cpu) / (wallSeconds * os.availableParallelism())).toFixed(3)),
    histogram,
  };
}

/** Writes every key of the workload once, so reads find values of its size. */
export async function preload(handle, workload, workers) {
  const driver = { ...(await handle.driver({ ...workload, batch: 1 })), valueBytes: workload.valueBytes, batch: 1 };
  const result = await runGenerator({
    driver,
    workers,
    concurrency: 64,
    seconds: 0,
    warmupSeconds: 0,
    keys: workload.keys,
    distribution: "uniform",
    readShare: 0,
    preload: true,
  });
  if (result.failed > 0) throw new Error(`preloading ${workload.keys} keys failed ${result.failed} times (${JSON.stringify(result.errors)})`);
}
