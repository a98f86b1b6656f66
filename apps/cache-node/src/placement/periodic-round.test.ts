import { describe, expect, it } from "vitest";
import { PeriodicRound } from "./periodic-round.js";

describe("PeriodicRound", () => {
  it("never overlaps rounds: a run while one is running resolves at once without a second body", async () => {
    let bodies = 0;
    let release!: () => void;
    const rounds = new PeriodicRound(
      60_000,
      async () => {
        bodies++;
        await new Promise<void>((r) => (release = r));
      },
      () => {},
    );
    const first = rounds.run();
    await rounds.run();
    expect(bodies).toBe(1);
    release();
    await first;
    const third = rounds.run();
    expect(bodies).toBe(2);
    release();
    await third;
  });

  it("passes a round's error to onError, and runs the next round", async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const rounds = new PeriodicRound(
      60_000,
      () => {
        calls++;
        return calls === 1 ? Promise.reject(new Error("lost write")) : Promise.resolve();
      },
      (err) => errors.push(err),
    );
    await rounds.run();
    await rounds.run();
    expect(calls).toBe(2);
    expect(errors.map((e) => (e as Error).message)).toEqual(["lost write"]);
  });

  it("runs once at start and then every interval, until stopped", async () => {
    let calls = 0;
    const rounds = new PeriodicRound(
      20,
      () => {
        calls++;
        return Promise.resolve();
      },
      () => {},
    );
    rounds.start();
    expect(calls).toBe(1);
    await new Promise((r) => setTimeout(r, 110));
    rounds.stop();
    const stoppedAt = calls;
    expect(stoppedAt).toBeGreaterThanOrEqual(2);
    await new Promise((r) => setTimeout(r, 60));
    expect(calls).toBe(stoppedAt);
  });
});
