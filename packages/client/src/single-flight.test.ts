import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SingleFlight } from "./single-flight.js";

const deferred = <T>() => {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

describe("SingleFlight", () => {
  it("runs the work once for concurrent calls on a key and shares the result", async () => {
    const flight = new SingleFlight<string>();
    const gate = deferred<string>();
    let runs = 0;
    const calls = Array.from({ length: 10 }, () =>
      flight.run("hot", () => {
        runs++;
        return gate.promise;
      }),
    );
    const other = flight.run("cold", () => Promise.resolve("other"));
    gate.resolve("value");
    expect(await Promise.all(calls)).toEqual(Array(10).fill("value"));
    expect(await other).toBe("other");
    expect(runs).toBe(1);
    expect(flight.stats).toEqual({ calls: 11, coalesced: 9 });
    expect(flight.size).toBe(0);
  });

  it("shares an error with every waiter, then runs afresh", async () => {
    const flight = new SingleFlight<number>();
    const gate = deferred<number>();
    const calls = [flight.run("k", () => gate.promise), flight.run("k", () => gate.promise)];
    gate.reject(new Error("backend down"));
    for (const call of calls) await expect(call).rejects.toThrow("backend down");
    expect(await flight.run("k", () => Promise.resolve(7))).toBe(7);
  });

  it("never runs two works for one key at the same time", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom("a", "b", "c"), fc.nat(3)), { maxLength: 40 }), async (script) => {
        const flight = new SingleFlight<number>();
        const active = new Map<string, number>();
        let overlap = false;
        const calls = script.map(async ([key, ticks], i) => {
          for (let t = 0; t < i % 3; t++) await Promise.resolve();
          return flight.run(key, async () => {
            active.set(key, (active.get(key) ?? 0) + 1);
            if ((active.get(key) ?? 0) > 1) overlap = true;
            for (let t = 0; t < ticks; t++) await Promise.resolve();
            active.set(key, (active.get(key) ?? 1) - 1);
            return i;
          });
        });
        await Promise.all(calls);
        expect(overlap).toBe(false);
        expect(flight.size).toBe(0);
      }),
    );
  });
});
