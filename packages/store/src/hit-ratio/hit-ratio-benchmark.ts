import { EVICTION_POLICIES, type EvictionPolicy } from "../eviction-order.js";
import type { StoreOptions } from "../store-options.js";
import { simulateBelady } from "./belady.js";
import { replayTrace, traceKeys } from "./replay-trace.js";
import { scanPollutedTrace, shiftingHotSetTrace, zipfTrace, type Trace } from "./trace.js";

export interface HitRatioBenchmarkOptions {
  /** Distinct keys of the Zipf and hot-set workloads. */
  universe: number;
  /** Requests per trace. */
  length: number;
  seed: number;
  /** Cache sizes as percentages of the universe. */
  cachePercents: readonly number[];
  /** Store options for every replay (policy and bounds are set per run). */
  storeOptions?: Partial<StoreOptions>;
}

export interface HitRatioRow {
  readonly trace: string;
  readonly cachePercent: number;
  readonly cacheEntries: number;
  /** Hit ratio in [0, 1] per policy, and for Belady's OPT. */
  readonly ratios: Readonly<Record<EvictionPolicy | "opt", number>>;
}

/** The four standard workloads: Zipf 0.8 and 0.99, scan-polluted Zipf, shifting hot set. */
export function standardTraces({ universe, length, seed }: Pick<HitRatioBenchmarkOptions, "universe" | "length" | "seed">): Trace[] {
  return [
    zipfTrace({ universe, exponent: 0.8, length, seed }),
    zipfTrace({ universe, exponent: 0.99, length, seed: seed + 1 }),
    scanPollutedTrace({
      universe,
      exponent: 0.99,
      length,
      seed: seed + 2,
      scanEveryRequests: Math.max(1, Math.floor(length / 10)),
      scanLength: Math.max(1, Math.floor(universe / 5)),
    }),
    shiftingHotSetTrace({
      universe,
      length,
      seed: seed + 3,
      hotSetSize: Math.max(1, Math.floor(universe / 100)),
      hotFraction: 0.9,
      shiftEveryRequests: Math.max(1, Math.floor(length / 10)),
    }),
  ];
}

/** Hit ratios of every policy and OPT on one trace and cache size. */
export function measureHitRatios(
  trace: Trace,
  cacheEntries: number,
  keys: readonly string[] = traceKeys(trace),
  storeOptions: Partial<StoreOptions> = {},
): Record<EvictionPolicy | "opt", number> {
  const ratio = (hits: number): number => hits / trace.requests.length;
  const ratios = { opt: ratio(simulateBelady(trace, cacheEntries)) } as Record<EvictionPolicy | "opt", number>;
  for (const policy of EVICTION_POLICIES) ratios[policy] = ratio(replayTrace(trace, policy, cacheEntries, keys, storeOptions));
  return ratios;
}

/** Runs every standard trace at every cache size. Deterministic for a given seed. */
export function runHitRatioBenchmark(options: HitRatioBenchmarkOptions): HitRatioRow[] {
  const rows: HitRatioRow[] = [];
  for (const trace of standardTraces(options)) {
    const keys = traceKeys(trace);
    for (const cachePercent of options.cachePercents) {
      const cacheEntries = Math.max(1, Math.round((options.universe * cachePercent) / 100));
      rows.push({ trace: trace.name, cachePercent, cacheEntries, ratios: measureHitRatios(trace, cacheEntries, keys, options.storeOptions) });
    }
  }
  return rows;
}

/** A markdown table: one row per trace and cache size, hit ratios in percent. */
export function formatHitRatioTable(rows: readonly HitRatioRow[]): string {
  const percent = (ratio: number): string => (ratio * 100).toFixed(1);
  const lines = ["| trace | cache | LRU | LFU | FIFO | Random | OPT |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"];
  for (const { trace, cachePercent, cacheEntries, ratios } of rows) {
    const cells = [ratios.lru, ratios.lfu, ratios.fifo, ratios.random, ratios.opt].map(percent);
    lines.push(`| ${trace} | ${cachePercent}% (${cacheEntries}) | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}
