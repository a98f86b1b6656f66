// npm run bench: distcache, etcd, Redis and the machine's ceilings side by side on
// loopback, in one run. Every target is started once; each round runs every workload on
// every target, in an order that turns each round; each figure is the median of the
// rounds. Writes one JSON file, then the Markdown tables and SVG charts generated from it.
//
//   npm run bench [-- --quick | --smoke] [--targets distcache,etcd,...] [--out-dir docs/benchmarks]
//                 [--rounds N] [--seconds S] [--workers W] [--memory-keys N] [--kills N]
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runHitRatioBenchmark } from "@distcache/store/hit-ratio";
import { memoryPerKey, restartTime } from "./extras.mjs";
import { distcacheFailover, etcdFailover } from "./failover.mjs";
import { measure, measureWithWrk, preload } from "./measure.mjs";
import { planFor, TIMING } from "./plan.mjs";
import { writeReport } from "./report/report.mjs";
import { ratios, summarize } from "./summary.mjs";
import { ceilingConnect, ceilingHttp } from "./targets/ceilings.mjs";
import { distcache } from "./targets/distcache.mjs";
import { etcd } from "./targets/etcd.mjs";
import { redis } from "./targets/redis.mjs";
import { wrkMissing } from "./wrk.mjs";

const ALL_TARGETS = [distcache, etcd, redis, ceilingHttp, ceilingConnect];
/** Cache sizes of the hit-ratio replay, in percent of the keys a trace uses. */
const HIT_RATIO_CACHE_PERCENTS = [1, 2, 5, 10, 20];

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    smoke: { type: "boolean", default: false },
    targets: { type: "string" },
    "out-dir": { type: "string", default: "docs/benchmarks" },
    rounds: { type: "string" },
    seconds: { type: "string" },
    workers: { type: "string", default: "2" },
    "memory-keys": { type: "string" },
    kills: { type: "string" },
  },
});
const mode = values.smoke ? "smoke" : values.quick ? "quick" : "full";
const timing = {
  ...TIMING[mode],
  ...(values.rounds ? { rounds: Number(values.rounds) } : {}),
  ...(values.seconds ? { seconds: Number(values.seconds) } : {}),
  ...(values["memory-keys"] ? { memoryKeys: Number(values["memory-keys"]) } : {}),
  ...(values.kills ? { failoverKills: Number(values.kills) } : {}),
};
const workers = Number(values.workers);
const progress = (line) => process.stderr.write(`${line}\n`);

/** The targets asked for; a missing one is skipped with its reason, or fails the run under CI=true. */
function chooseTargets() {
  const names = values.targets ? values.targets.split(",") : ALL_TARGETS.map((t) => t.name);
  const unknown = names.filter((n) => !ALL_TARGETS.some((t) => t.name === n));
  if (unknown.length) throw new Error(`unknown target ${unknown.join(", ")}; use ${ALL_TARGETS.map((t) => t.name).join(", ")}`);
  const chosen = [];
  const skipped = {};
  for (const target of ALL_TARGETS.filter((t) => names.includes(t.name))) {
    const reason = target.missing();
    if (reason && process.env.CI === "true") throw new Error(`target ${target.name} is missing under CI=true: ${reason}`);
    if (reason) {
      progress(`skipping ${target.name}: ${reason}`);
      skipped[target.name] = reason;
    } else chosen.push(target);
  }
  return { chosen, skipped };
}

/**
 * Whether a target takes part in a workload: batches need MGet/MSet, which etcd's KV and
 * the ceilings lack; wrk posts JSON to distcache and etcd, and its EVENTUAL reads to the
 * node:http ceiling too (the same generator's ceiling). The SDK without auto-batching, and reads
 * through one node, are distcache's alone.
 */
const takesPart = (target, workload) =>
  workload.autoBatch === false || workload.routing === "one-node"
    ? target.name === "distcache"
    : workload.tool === "wrk"
      ? ["distcache", "etcd"].includes(target.name) || (target.name === "ceiling-http" && workload.consistency === "eventual")
      : workload.batch === 1 || target.name === "distcache" || target.name === "redis";

async function runRounds(handles, workloads) {
  const results = {};
  const total = timing.rounds * workloads.reduce((n, w) => n + handles.filter((h) => takesPart(h.target, w)).length, 0);
  let done = 0;
  for (let round = 0; round < timing.rounds; round++) {
    const written = new Map();
    for (const [wi, workload] of workloads.entries()) {
      const order = handles.map((_, i) => handles[(i + round + wi) % handles.length]).filter((h) => takesPart(h.target, workload));
      for (const { target, handle } of order) {
        if (workload.readShare > 0 && written.get(target.name) !== workload.valueBytes) {
          await preload(handle, workload, workers);
          written.set(target.name, workload.valueBytes);
        }
        const closedLoop = workload.openLoopShare ? results[baseOf(workload)]?.[target.name]?.rounds[round] : undefined;
        const rate = closedLoop ? Math.max(1, Math.round(closedLoop.opsPerSecond * workload.openLoopShare)) : undefined;
        const m =
          workload.tool === "wrk"
            ? await measureWithWrk(handle, target, workload, timing)
            : await measure(handle, workload, { ...timing, workers, rate, seed: round + 1 });
        ((results[workload.id] ??= {})[target.name] ??= { rounds: [] }).rounds[round] = { ...m, rate: rate ?? null };
        if (workload.readShare < 1) written.set(target.name, workload.valueBytes);
        done++;
        progress(
          `[${done}/${total}] round ${round + 1} ${workload.id} ${target.name}: ${m.opsPerSecond.toLocaleString("en-US")} ops/s, ` +
            `p99 ${(m.latencyUs.p99 ?? NaN) / 1000} ms, ${m.cpuUsPerOp} µs CPU/op, fsyncs/write ${m.fsyncsPerWrite ?? "-"}, failed ${m.failed}`,
        );
      }
    }
  }
  return results;
}

/**
 * An unmeasured write load on every target first, so that the rounds compare compiled
 * code and allocated logs: without it distcache's first round ran at a third of the others.
 */
async function prime(handles) {
  const workload = planFor("smoke")[0];
  for (const { target, handle } of handles) {
    progress(`priming ${target.name} with an unmeasured write load`);
    await measure(handle, workload, { seconds: timing.primeSeconds, warmupSeconds: 0, workers, seed: 99 });
  }
}

/** Failover against etcd: timing.failoverKills leader kills each, the time to the first write acknowledged after each. */
async function runFailover(handles) {
  if (!timing.failoverKills) return undefined;
  const out = { kills: timing.failoverKills, targets: {} };
  for (const { target, handle } of handles.filter((h) => h.target.name === "distcache" || h.target.name === "etcd")) {
    progress(`killing ${target.name}'s leader ${timing.failoverKills} times under a writer`);
    out.targets[target.name] = await (target.name === "distcache" ? distcacheFailover : etcdFailover)(handle, timing.failoverKills);
    progress(`${target.name} failover: ${JSON.stringify(out.targets[target.name])}`);
  }
  return out;
}

/** Memory per key against Redis at timing.memoryKeys keys, then a distcache node's restart time holding them. */
async function runMemory(handles) {
  if (!timing.memoryKeys) return undefined;
  const out = { keys: timing.memoryKeys, valueBytes: 100, targets: {} };
  for (const { target, handle } of handles.filter((h) => h.target.name === "distcache" || h.target.name === "redis")) {
    progress(`loading ${timing.memoryKeys.toLocaleString("en-US")} keys of 100 B into ${target.name} for its memory per key`);
    out.targets[target.name] = await memoryPerKey(handle, { keys: timing.memoryKeys, valueBytes: 100, copies: target.name === "distcache" ? 3 : 1 });
    progress(`${target.name}: ${JSON.stringify(out.targets[target.name])}`);
    if (target.name === "distcache") {
      out.restart = await restartTime(handle);
      progress(`distcache node restart with ${timing.memoryKeys.toLocaleString("en-US")} keys: ${out.restart.seconds} s`);
    }
  }
  return out;
}

/** The closed-loop workload an open-loop one takes its rate from. */
const baseOf = (workload) => workload.id.replace(/-open-loop-half-rate$/, "-uniform-100B-c64");

function machine() {
  return {
    cpus: os.availableParallelism(),
    model: os.cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
  };
}

async function main() {
  const { chosen, skipped } = chooseTargets();
  const missingWrk = wrkMissing();
  if (missingWrk && process.env.CI === "true") throw new Error(`wrk is missing under CI=true: ${missingWrk}`);
  if (missingWrk) progress(`skipping the wrk workloads: ${missingWrk}`);
  const workloads = planFor(mode).filter((w) => w.tool !== "wrk" || !missingWrk);
  const startedAt = new Date().toISOString();
  const handles = [];
  stopOnSignals(handles);
  try {
    for (const target of chosen) {
      progress(`starting ${target.label}`);
      handles.push({ target, handle: await target.start() });
    }
    await prime(handles);
    const measured = await runRounds(handles, workloads);
    const failover = await runFailover(handles);
    const memory = await runMemory(handles);
    progress("replaying the hit-ratio traces through the store");
    const hitRatio = {
      ...timing.hitRatio,
      seed: 1,
      rows: runHitRatioBenchmark({ ...timing.hitRatio, seed: 1, cachePercents: HIT_RATIO_CACHE_PERCENTS }),
    };
    const results = Object.fromEntries(
      Object.entries(measured).map(([id, byTarget]) => [
        id,
        Object.fromEntries(Object.entries(byTarget).map(([name, entry]) => [name, { ...summarize(entry.rounds), rounds: entry.rounds }])),
      ]),
    );
    const run = {
      format: 1,
      mode,
      command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
      startedAt,
      finishedAt: new Date().toISOString(),
      machine: machine(),
      timing: { ...timing, workers },
      targets: Object.fromEntries([
        ...handles.map(({ target, handle }) => [target.name, { label: target.label, version: handle.version, ceiling: Boolean(target.ceiling) }]),
        ...Object.entries(skipped).map(([name, reason]) => [name, { skipped: reason }]),
      ]),
      workloads,
      results,
      ratios: ratios(results, new Set(workloads.filter((w) => w.openLoopShare).map((w) => w.id))),
      failover,
      memory,
      hitRatio,
      checks: checks(results),
    };
    mkdirSync(values["out-dir"], { recursive: true });
    const file = join(values["out-dir"], "latest.json");
    writeFileSync(file, `${JSON.stringify(run, null, 1)}\n`);
    const written = writeReport(run, values["out-dir"]);
    progress(`wrote ${file} and ${written.join(", ")}`);
    for (const c of run.checks) progress(`${c.ok ? "check" : c.fatal ? "check failed" : "warning"}: ${c.what}`);
    if (run.checks.some((c) => !c.ok && c.fatal)) process.exitCode = 1;
  } finally {
    for (const { handle } of handles) await handle.stop();
  }
}

/**
 * Ctrl-C (or SIGTERM) stops every target started so far, by its PIDs, before the run
 * exits: nothing the bench started outlives it.
 */
function stopOnSignals(handles) {
  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    progress(`${signal}: stopping ${handles.length} target(s)`);
    Promise.allSettled(handles.map(({ handle }) => handle.stop())).then(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

/** What a run must hold to count: distcache's writes synced, and a generator that is not the limit. */
function checks(results) {
  const out = [];
  for (const [id, byTarget] of Object.entries(results)) {
    const ours = byTarget["distcache"];
    if (ours && !id.startsWith("read") && ours.fsyncsPerWrite !== null) {
      out.push({ what: `${id}: distcache fsyncs per write ${ours.fsyncsPerWrite} (must be above 0)`, ok: ours.fsyncsPerWrite > 0, fatal: true });
    }
  }
  // Redis is left out of "best": its client pipelines many commands per round trip, which
  // no HTTP generator does, so the node:http ceiling does not bound what it can send there.
  // The bench's own generator against each: wrk's workloads measure another generator.
  const generated = Object.entries(results)
    .filter(([id]) => !id.startsWith("wrk-"))
    .map(([, byTarget]) => byTarget);
  const ceiling = Math.max(0, ...generated.map((t) => t["ceiling-http"]?.opsPerSecond ?? 0));
  const best = Math.max(
    0,
    ...generated.flatMap((t) =>
      Object.entries(t)
        .filter(([n]) => !n.startsWith("ceiling") && n !== "redis")
        .map(([, e]) => e.opsPerSecond),
    ),
  );
  if (ceiling > 0) {
    const capacityRatio = Number((ceiling / Math.max(1, best)).toFixed(2));
    out.push({
      what:
        `generator capacity ${ceiling} ops/s against bare node:http: ${capacityRatio}× ` +
        `the best rate reported for distcache or etcd, ${best} (must be at least 2×)`,
      ok: capacityRatio >= 2,
      fatal: false,
      capacityRatio,
    });
  }
  return out;
}

await main();
