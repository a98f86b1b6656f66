// One measurement: a workload against one running target, with the servers' CPU (from
// /proc, summed over every server process), their fsyncs and elections, and the
// generator's own CPU.
import os from "node:os";
import { readProcStat } from "../../chaos/proc-stats.mjs";
import { runGenerator } from "./generator/run.mjs";
import { runWrk, wrkRequests } from "./wrk.mjs";

const cpuOf = (pids) => pids.reduce((sum, pid) => sum + (readProcStat(pid)?.cpuSeconds ?? 0), 0);
const delta = (after, before) => (after === null || before === null || after === undefined || before === undefined ? null : after - before);

/** Runs `load` and adds what the servers did meanwhile: their CPU per acknowledged operation, fsyncs per write, elections. */
async function withServerFigures(handle, workload, load) {
  const pids = handle.pids();
  const before = { cpu: cpuOf(pids), counters: await handle.counters(), at: performance.now() };
  const result = await load();
  const wallSeconds = (performance.now() - before.at) / 1000;
  const after = { cpu: cpuOf(pids), counters: await handle.counters() };
  const { acknowledged: acked, histogram, ...rest } = result;
  const acknowledged = acked.read + acked.write;
  const fsyncs = delta(after.counters.fsyncs, before.counters.fsyncs);
  const share = (seconds) => Number((seconds / (wallSeconds * os.availableParallelism())).toFixed(3));
  return {
    ...rest,
    keysPerSecond: result.opsPerSecond * workload.batch,
    serverCpuSeconds: after.cpu - before.cpu,
    cpuUsPerOp: acknowledged > 0 ? Math.round(((after.cpu - before.cpu) * 1e6) / acknowledged) : null,
    fsyncsPerWrite: fsyncs === null || acked.write === 0 ? null : Number((fsyncs / acked.write).toFixed(3)),
    elections: delta(after.counters.elections, before.counters.elections),
    generatorCpuShare: share(result.generatorCpuSeconds),
    serverCpuShare: share(after.cpu - before.cpu),
    ...(histogram ? { histogram } : {}),
  };
}

/**
 * One measurement through the bench's own generator.
 * @param {object} handle a started target
 * @param {object} workload from plan.mjs
 * @param {{ seconds: number, warmupSeconds: number, workers: number, rate?: number, seed: number }} run
 */
export async function measure(handle, workload, run) {
  const driver = {
    ...(await handle.driver(workload)),
    valueBytes: workload.valueBytes,
    consistency: workload.consistency,
    batch: workload.batch,
    autoBatch: workload.autoBatch,
  };
  return withServerFigures(handle, workload, () =>
    runGenerator({
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
    }),
  );
}

/** One measurement through wrk, at the target's HTTP JSON endpoint. */
export async function measureWithWrk(handle, target, workload, run) {
  const { path, bodies } = wrkRequests(target.name, workload.mix, workload.keys, workload.valueBytes, workload.consistency);
  return withServerFigures(handle, workload, async () => {
    const result = await runWrk({ url: await handle.jsonUrl(), path, bodies, seconds: run.seconds, connections: workload.concurrency });
    delete result.output;
    // wrk runs whole seconds: the figures count over its own duration.
    // wrk gives no warm-up split: every request it counted is one the servers' counters saw.
    const ok = result.opsPerSecond * result.seconds;
    return { ...result, ok, errors: {}, late: 0, acknowledged: workload.mix === "write" ? { read: 0, write: ok } : { read: ok, write: 0 } };
  });
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
