import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EVICTION_POLICIES } from "../eviction-order.js";
import { simulateBelady } from "./belady.js";
import { measureHitRatios } from "./hit-ratio-benchmark.js";
import { replayTrace } from "./replay-trace.js";
import { scanPollutedTrace, shiftingHotSetTrace, zipfTrace, type Trace } from "./trace.js";

const handTrace = (requests: number[]): Trace => ({ name: "hand", requests: Int32Array.from(requests), keyCount: Math.max(...requests) + 1 });

/** OPT by definition, O(n^2): on a miss with a full cache, evict the cached key used farthest ahead (never = infinitely far). */
function naiveBelady(requests: readonly number[], cacheEntries: number): number {
  const cache: number[] = [];
  let hits = 0;
  requests.forEach((key, index) => {
    if (cache.includes(key)) {
      hits++;
      return;
    }
    if (cache.length === cacheEntries) {
      const distance = (cached: number): number => {
        const next = requests.indexOf(cached, index + 1);
        return next === -1 ? Number.POSITIVE_INFINITY : next;
      };
      const victim = cache.reduce((far, cached) => (distance(cached) > distance(far) ? cached : far));
      cache.splice(cache.indexOf(victim), 1);
    }
    cache.push(key);
  });
  return hits;
}

describe("Belady OPT", () => {
  it("matches hand-computed hit counts on tiny traces", () => {
    // The classic 20-reference string with 3 frames: 9 faults, so 11 hits.
    expect(simulateBelady(handTrace([7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1]), 3)).toBe(11);
    // 1 2 3 | 1 hit | 2 evicts 3 | 4 evicts 2 | 1 hit | 2 miss: 2 hits (LRU gets 0 here).
    expect(simulateBelady(handTrace([1, 2, 3, 1, 2, 4, 1, 2]), 2)).toBe(2);
    expect(replayTrace(handTrace([1, 2, 3, 1, 2, 4, 1, 2]), "lru", 2)).toBe(0);
    expect(simulateBelady(handTrace([5, 5, 5]), 1)).toBe(2);
  });

  it("agrees with the O(n^2) definition", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 80 }), fc.integer({ min: 1, max: 6 }), (requests, cacheEntries) => {
        expect(simulateBelady(handTrace(requests), cacheEntries)).toBe(naiveBelady(requests, cacheEntries));
      }),
    );
  });

  it("is at least as good as every policy on every generated trace", () => {
    const traceArbitrary = fc.record({
      kind: fc.constantFrom("zipf-0.8", "zipf-0.99", "scan", "hot"),
      universe: fc.integer({ min: 5, max: 300 }),
      length: fc.integer({ min: 1, max: 3000 }),
      seed: fc.integer(),
      cacheFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    fc.assert(
      fc.property(traceArbitrary, ({ kind, universe, length, seed, cacheFraction }) => {
        const trace = generate(kind, universe, length, seed);
        const cacheEntries = Math.max(1, Math.round(cacheFraction * universe));
        const ratios = measureHitRatios(trace, cacheEntries);
        for (const policy of EVICTION_POLICIES) expect(ratios.opt).toBeGreaterThanOrEqual(ratios[policy]);
      }),
      { numRuns: 150 },
    );
  });

  it("with room for every key, every policy and OPT miss only once per distinct key", () => {
    const trace = zipfTrace({ universe: 50, exponent: 0.99, length: 2000, seed: 3 });
    const distinct = new Set(trace.requests).size;
    const ratios = measureHitRatios(trace, 50);
    for (const ratio of Object.values(ratios)) expect(ratio).toBe((2000 - distinct) / 2000);
  });
});

function generate(kind: string, universe: number, length: number, seed: number): Trace {
  switch (kind) {
    case "zipf-0.8":
      return zipfTrace({ universe, exponent: 0.8, length, seed });
    case "zipf-0.99":
      return zipfTrace({ universe, exponent: 0.99, length, seed });
    case "scan":
      return scanPollutedTrace({ universe, exponent: 0.99, length, seed, scanEveryRequests: 100, scanLength: 30 });
    default:
      return shiftingHotSetTrace({ universe, length, seed, hotSetSize: Math.max(1, universe >> 4), hotFraction: 0.9, shiftEveryRequests: 200 });
  }
}
