import { describe, expect, it } from "vitest";
import { SeededRandom } from "./random.js";

describe("SeededRandom", () => {
  it("replays the same stream for the same seed", () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const xs = Array.from({ length: 100 }, () => a.nextInt(1000));
    expect(Array.from({ length: 100 }, () => b.nextInt(1000))).toEqual(xs);
  });

  it("gives different streams for nearby and large seeds", () => {
    const first = (seed: number): number[] => {
      const random = new SeededRandom(seed);
      return Array.from({ length: 8 }, () => random.nextUint32());
    };
    expect(first(1)).not.toEqual(first(2));
    expect(first(2 ** 40)).not.toEqual(first(2 ** 40 + 1));
  });

  it("stays within bounds and covers them", () => {
    const random = new SeededRandom(7);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i += 1) {
      const value = random.nextInt(10);
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThan(10);
      seen.add(value);
    }
    expect(seen.size).toBe(10);
  });

  it("rejects invalid bounds and seeds", () => {
    const random = new SeededRandom(1);
    expect(() => random.nextInt(0)).toThrow(RangeError);
    expect(() => random.nextInt(1.5)).toThrow(RangeError);
    expect(() => new SeededRandom(Number.NaN)).toThrow(RangeError);
  });
});
