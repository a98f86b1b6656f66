import { describe, expect, it } from "vitest";
import { Prng } from "../prng.js";
import { formatHitRatioTable, runHitRatioBenchmark, standardTraces } from "./hit-ratio-benchmark.js";
import { scanPollutedTrace, shiftingHotSetTrace, ZipfSampler } from "./trace.js";

describe("trace generators", () => {
  it("are deterministic per seed and stay within their key range", () => {
    const options = { universe: 1000, length: 5000, seed: 9 };
    const first = standardTraces(options);
    const second = standardTraces(options);
    expect(second.map((trace) => trace.requests)).toEqual(first.map((trace) => trace.requests));
    expect(standardTraces({ ...options, seed: 10 })[0]?.requests).not.toEqual(first[0]?.requests);
    for (const trace of first) {
      expect(trace.requests.length).toBe(5000);
      expect(trace.requests.every((id) => id >= 0 && id < trace.keyCount)).toBe(true);
    }
  });

  it("Zipf frequencies fall with rank like 1/rank^s", () => {
    const sampler = new ZipfSampler(100, 0.99);
    const prng = new Prng(1);
    const counts = new Array<number>(100).fill(0);
    for (let index = 0; index < 200_000; index++) counts[sampler.sample(prng)]! += 1;
    const ratio = (counts[0] as number) / (counts[9] as number);
    expect(ratio).toBeGreaterThan(10 ** 0.99 * 0.9);
    expect(ratio).toBeLessThan(10 ** 0.99 * 1.1);
  });

  it("scans use fresh keys exactly once, at the end of each cycle", () => {
    const trace = scanPollutedTrace({ universe: 100, exponent: 0.99, length: 1000, seed: 1, scanEveryRequests: 200, scanLength: 50 });
    const scanned = Array.from(trace.requests).filter((id) => id >= 100);
    expect(scanned.length).toBe(250);
    expect(new Set(scanned).size).toBe(250);
    expect(trace.requests[149]).toBeLessThan(100);
    expect(trace.requests[150]).toBe(100);
  });

  it("the hot set receives its share of requests and moves", () => {
    const trace = shiftingHotSetTrace({ universe: 10_000, length: 20_000, seed: 1, hotSetSize: 10, hotFraction: 0.9, shiftEveryRequests: 10_000 });
    const top = (from: number): number => {
      const counts = new Map<number, number>();
      for (const id of trace.requests.subarray(from, from + 10_000)) counts.set(id, (counts.get(id) ?? 0) + 1);
      return (
        [...counts.values()]
          .sort((a, b) => b - a)
          .slice(0, 10)
          .reduce((sum, count) => sum + count, 0) / 10_000
      );
    };
    expect(top(0)).toBeGreaterThan(0.88);
    expect(top(10_000)).toBeGreaterThan(0.88);
    expect(trace.requests[0]).not.toBe(trace.requests[10_000]);
  });

  it("the benchmark produces one row per trace and cache size, as a markdown table", () => {
    const rows = runHitRatioBenchmark({ universe: 200, length: 2000, seed: 1, cachePercents: [5, 10] });
    expect(rows.length).toBe(8);
    const table = formatHitRatioTable(rows);
    expect(table.split("\n").length).toBe(10);
    expect(table).toContain("| LRU | LFU | FIFO | Random | OPT |");
  });
});
