import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { StoreAssertionError } from "./assert.js";
import { Prng } from "./prng.js";

describe("Prng", () => {
  it("is pinned to fixed vectors (replicas and snapshots depend on the exact sequence)", () => {
    const prng = new Prng(1);
    expect(prng.state()).toEqual([1970692863, 895115606, 3048275379, 3932783814]);
    expect([prng.nextUint32(), prng.nextUint32(), prng.nextUint32(), prng.nextUint32()]).toEqual([1905135405, 1280658582, 4077258325, 490057751]);
    const wide = new Prng(2 ** 40 + 3);
    expect([wide.nextUint32(), wide.nextUint32()]).toEqual([3637957463, 4201916581]);
  });

  it("uses both halves of a wide seed", () => {
    const low = new Prng(3).state();
    expect(new Prng(2 ** 32 + 3).state()).not.toEqual(low);
    expect(new Prng(-3).state()).not.toEqual(low);
  });

  it("setState continues the sequence exactly", () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat({ max: 50 }), (seed, skip) => {
        const original = new Prng(seed);
        for (let index = 0; index < skip; index++) original.nextUint32();
        const copy = new Prng(0);
        copy.setState(original.state());
        expect([copy.nextUint32(), copy.nextBelow(1000), copy.nextFloat()]).toEqual([original.nextUint32(), original.nextBelow(1000), original.nextFloat()]);
      }),
    );
  });

  it("nextBelow stays in range, nextFloat in [0, 1)", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 2 ** 32 }), (seed, bound) => {
        const prng = new Prng(seed);
        for (let index = 0; index < 20; index++) {
          const draw = prng.nextBelow(bound);
          expect(Number.isInteger(draw) && draw >= 0 && draw < bound).toBe(true);
          const float = prng.nextFloat();
          expect(float >= 0 && float < 1).toBe(true);
        }
      }),
    );
  });

  it("nextBelow is close to uniform", () => {
    const prng = new Prng(42);
    const bins = new Array<number>(10).fill(0);
    const draws = 100_000;
    for (let index = 0; index < draws; index++) bins[prng.nextBelow(10)]! += 1;
    const expected = draws / 10;
    const chiSquare = bins.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    expect(chiSquare).toBeLessThan(27.88); // p = 0.001 for 9 degrees of freedom
  });

  it("rejects bad seeds, bounds and states", () => {
    const prng = new Prng();
    const calls: Array<() => unknown> = [
      () => prng.reseed(0.5),
      () => prng.reseed(Number.NaN),
      () => prng.nextBelow(0),
      () => prng.nextBelow(2 ** 32 + 1),
      () => prng.setState([0, 0, 0, 0]),
      () => prng.setState([2 ** 32, 0, 0, 1]),
    ];
    for (const call of calls) expect(call).toThrow(StoreAssertionError);
  });
});
