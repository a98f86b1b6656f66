// The Markdown tables and SVG charts of a run, generated from its JSON alone.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { barChart, lineChart } from "./svg.mjs";

const ms = (us) => (us === null || us === undefined ? "-" : (us / 1000).toFixed(us < 10_000 ? 2 : 1));
const count = (n) => (n === null || n === undefined ? "-" : Math.round(n).toLocaleString("en-US"));

/** The targets of a run that ran, in the run's order. */
const ranTargets = (run) => Object.entries(run.targets).filter(([, t]) => !t.skipped);

/** The charts of a run, by file name. */
export function charts(run) {
  const targets = ranTargets(run).map(([name, t]) => ({ name, label: t.label }));
  const main = run.workloads.filter((w) => !w.sweep && !w.openLoopShare).map((w) => w.id);
  const series = (ids, pick) =>
    targets.map((t) => ({ name: t.label, values: ids.map((id) => (run.results[id]?.[t.name] ? pick(run.results[id][t.name]) : null)) }));
  const out = {
    "throughput.svg": barChart({
      title: "Throughput (median of rounds)",
      unit: "operations/s",
      categories: main,
      series: series(main, (e) => e.opsPerSecond),
      log: true,
    }),
    "cpu-per-op.svg": barChart({
      title: "Server CPU per acknowledged operation",
      unit: "µs (all server processes)",
      categories: main,
      series: series(main, (e) => e.cpuUsPerOp),
      log: true,
    }),
  };
  const latencyOf = run.workloads.filter((w) => w.openLoopShare).map((w) => w.id);
  const latencyIds = latencyOf.length > 0 ? latencyOf : main.slice(0, 2);
  const percentiles = ["p50", "p90", "p99", "p999"];
  const latencyCategories = latencyIds.flatMap((id) => percentiles.map((p) => `${id} ${p}`));
  out["latency.svg"] = barChart({
    title: latencyOf.length > 0 ? "Latency, open loop at half the closed-loop rate (corrected)" : "Latency, closed loop",
    unit: "ms",
    categories: latencyCategories,
    series: targets.map((t) => ({
      name: t.label,
      values: latencyIds.flatMap((id) => percentiles.map((p) => (run.results[id]?.[t.name] ? run.results[id][t.name].latencyUs[p] / 1000 : null))),
    })),
  });
  const sweep = run.workloads.filter(
    (w) =>
      w.sweep ||
      (w.concurrency === 64 && w.distribution === "uniform" && w.valueBytes === 100 && w.batch === 1 && !w.openLoopShare && w.consistency === "strong"),
  );
  const xs = [...new Set(sweep.map((w) => w.concurrency))].sort((a, b) => a - b);
  const sweepSeries = [];
  for (const mix of ["write", "read"]) {
    for (const t of targets) {
      const values = xs.map((c) => {
        const w = sweep.find((x) => x.mix === mix && x.concurrency === c);
        return w && run.results[w.id]?.[t.name] ? run.results[w.id][t.name].opsPerSecond : null;
      });
      if (values.some((v) => v !== null)) sweepSeries.push({ name: `${t.label} ${mix}`, values });
    }
  }
  const traces = [...new Set((run.hitRatio?.rows ?? []).map((r) => r.trace))];
  if (traces.length > 0) {
    const rows = run.hitRatio.rows.filter((r) => r.trace === traces[0]);
    out["hit-ratio.svg"] = lineChart({
      title: `Hit ratio against cache size (${traces[0]})`,
      unit: "hit ratio, %",
      xLabel: "cache size, % of the keys",
      xs: rows.map((r) => r.cachePercent),
      series: ["lru", "lfu", "fifo", "random", "opt"].map((p) => ({
        name: p === "opt" ? "OPT (Belady)" : p.toUpperCase(),
        values: rows.map((r) => Number((r.ratios[p] * 100).toFixed(1))),
      })),
    });
  }
  out["concurrency-sweep.svg"] = lineChart({
    title: "Throughput against concurrency",
    unit: "operations/s",
    xLabel: "concurrent requests",
    xs,
    series: sweepSeries,
  });
  return out;
}

function failoverLines(run) {
  if (!run.failover) return [];
  return [
    "",
    `## Failover: ${run.failover.kills} leader kills each`,
    "",
    "The leader (for distcache, of the shard a probe key lives on) killed with SIGKILL under a writer of that key; " +
      "time from the kill to the first write acknowledged after it. The member is started again before the next kill.",
    "",
    "| target | median ms | max ms | each kill, ms |",
    "| --- | ---: | ---: | --- |",
    ...Object.entries(run.failover.targets).map(([name, f]) => `| ${run.targets[name]?.label ?? name} | ${f.medianMs} | ${f.maxMs} | ${f.ms.join(", ")} |`),
  ];
}

function memoryLines(run) {
  if (!run.memory) return [];
  const m = run.memory;
  const lines = [
    "",
    `## Memory per key, ${m.keys.toLocaleString("en-US")} keys of ${m.valueBytes} B`,
    "",
    "Growth of resident memory while the keys were loaded (MSet of 100), per copy of the data " +
      "(each distcache node holds every key), and the target's own accounting.",
    "",
    "| target | RSS bytes per key | accounted bytes per key | load seconds |",
    "| --- | ---: | ---: | ---: |",
    ...Object.entries(m.targets).map(
      ([name, t]) => `| ${run.targets[name]?.label ?? name} | ${t.rssBytesPerKey} | ${t.accountedBytesPerKey ?? "-"} | ${t.loadSeconds} |`,
    ),
  ];
  const ours = m.targets["distcache"];
  const theirs = m.targets["redis"];
  if (ours && theirs) lines.push("", `distcache ÷ Redis, RSS per key: ${(ours.rssBytesPerKey / theirs.rssBytesPerKey).toFixed(2)}×.`);
  if (m.restart)
    lines.push("", `A distcache node killed with SIGKILL and restarted on its data dir holding them answered /readyz after ${m.restart.seconds} s.`);
  return lines;
}

function hitRatioLines(run) {
  if (!run.hitRatio) return [];
  const { universe, length, rows } = run.hitRatio;
  const percent = (x) => (x * 100).toFixed(1);
  return [
    "",
    `## Hit ratio against cache size`,
    "",
    `The store replays ${length.toLocaleString("en-US")} requests over ${universe.toLocaleString("en-US")} keys per trace, against Belady's OPT.`,
    "",
    "",
    "| trace | cache | LRU | LFU | FIFO | Random | OPT |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${r.trace} | ${r.cachePercent}% (${r.cacheEntries}) | ${["lru", "lfu", "fifo", "random", "opt"].map((p) => percent(r.ratios[p])).join(" | ")} |`,
    ),
  ];
}

/** One sentence on what a workload does. */
function describe(w) {
  const tool = w.tool === "wrk" ? "Through wrk (JSON: Connect to one distcache node, etcd's gateway on its leader): " : "";
  const mix = w.mix === "write" ? "writes" : w.mix === "read" ? `${w.consistency} reads` : "95% strong reads and 5% writes";
  const loop = w.openLoopShare ? `open loop at ${w.openLoopShare} of the closed-loop rate (latency from when each operation was due), at most ` : "";
  const batch = w.batch > 1 ? `, ${w.batch} keys per call (MGet/MSet)` : "";
  return `${tool}${mix}, ${w.distribution} over ${w.keys.toLocaleString("en-US")} keys, ${w.valueBytes} B values, ${loop}${w.concurrency} in flight${batch}.`;
}

/** The Markdown report of a run. */
export function markdown(run) {
  const lines = [
    `# Benchmark run, ${run.startedAt.slice(0, 10)}`,
    "",
    `Generated from \`latest.json\` by \`tools/bench/suite/report/report.mjs\`. Command: \`${run.command}\`.`,
    "",
    `Machine: ${run.machine.cpus} CPUs (${run.machine.model}), ${run.machine.memoryGiB} GiB, Linux ${run.machine.kernel}, Node ${run.machine.node}. ` +
      `${run.timing.rounds} rounds of ${run.timing.seconds} s per measurement (after ${run.timing.warmupSeconds} s of warm-up), ` +
      `${run.timing.workers} load processes; ` +
      "every figure is the median of the rounds, and every ratio the median of the per-round ratios.",
    "",
    "| target | version | |",
    "| --- | --- | --- |",
    ...Object.entries(run.targets).map(
      ([name, t]) => `| ${t.label ?? name} | ${t.version ?? "-"} | ${t.skipped ? `skipped: ${t.skipped}` : t.ceiling ? "ceiling" : ""} |`,
    ),
    "",
    "![throughput](throughput.svg)",
    "![latency](latency.svg)",
    "![concurrency sweep](concurrency-sweep.svg)",
    "![CPU per operation](cpu-per-op.svg)",
    "![hit ratio](hit-ratio.svg)",
    "",
  ];
  for (const w of run.workloads) {
    const byTarget = run.results[w.id];
    if (!byTarget) continue;
    lines.push(
      `## ${w.id}`,
      "",
      describe(w),
      "",
      "| target | ops/s | keys/s | p50 ms | p90 ms | p99 ms | p99.9 ms | server CPU µs/op | fsyncs/write | elections | failed | generator CPU |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const [name, e] of Object.entries(byTarget)) {
      const l = e.latencyUs;
      lines.push(
        [
          run.targets[name]?.label ?? name,
          count(e.opsPerSecond),
          count(e.keysPerSecond),
          ...["p50", "p90", "p99", "p999"].map((p) => ms(l[p])),
          count(e.cpuUsPerOp),
          e.fsyncsPerWrite ?? "-",
          e.elections ?? "-",
          e.failed,
          e.generatorCpuShare === null ? "-" : `${Math.round(e.generatorCpuShare * 100)}%`,
        ]
          .join(" | ")
          .replace(/^/, "| ") + " |",
      );
    }
    lines.push("");
  }
  lines.push("## Ratios (distcache ÷ target, throughput)", "", "| workload | versus | ratio | per round |", "| --- | --- | ---: | --- |");
  for (const r of run.ratios) lines.push(`| ${r.workload} | ${run.targets[r.versus]?.label ?? r.versus} | ${r.ratio} | ${r.perRound.join(", ")} |`);
  lines.push(...failoverLines(run), ...memoryLines(run), ...hitRatioLines(run));
  lines.push("", "## Checks", "", ...run.checks.map((c) => `- ${c.ok ? "ok" : c.fatal ? "FAILED" : "not met"}: ${c.what}`), "");
  return lines.join("\n");
}

/** Writes latest.md and the charts next to the run's JSON; returns the files written. */
export function writeReport(run, dir) {
  const files = [];
  for (const [name, svg] of Object.entries(charts(run))) {
    writeFileSync(join(dir, name), svg);
    files.push(name);
  }
  writeFileSync(join(dir, "latest.md"), markdown(run));
  files.push("latest.md");
  return files;
}

// Regenerates the tables and charts of a run's JSON:  node tools/bench/suite/report/report.mjs docs/benchmarks/latest.json
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? "docs/benchmarks/latest.json";
  console.log(`wrote ${writeReport(JSON.parse(readFileSync(file, "utf8")), dirname(file)).join(", ")}`);
}
