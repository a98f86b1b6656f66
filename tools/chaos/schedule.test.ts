// The fault schedules drawn from a seed (tools/chaos/schedule.mjs).
import { describe, expect, it } from "vitest";
import { CLOCK_NEMESES, CRASH_NEMESIS, NEMESES, TARGETED, randomSchedule, targetedSchedule, type ScheduleContext, type Window } from "./schedule.mjs";

const context = (seed: string, enabled: readonly string[]): ScheduleContext => ({
  seed,
  durationMs: 120_000,
  warmupMs: 3000,
  healMs: 20_000,
  ids: ["n1", "n2", "n3"],
  shardCount: 12,
  enabled: [...enabled],
  proxyClients: true,
  maxDelayMs: 150,
});

describe("the random schedule", () => {
  it.each(["1", "11", "2026"])("keeps a seed's other faults when crashes and clock faults are enabled (seed %s)", (seed) => {
    const without = NEMESES.filter((k) => k !== CRASH_NEMESIS && !CLOCK_NEMESES.includes(k));
    const before = randomSchedule(context(seed, without)).windows;
    const after = randomSchedule(context(seed, NEMESES)).windows;
    expect(after.map((w) => [w.startMs, w.endMs])).toEqual(before.map((w) => [w.startMs, w.endMs]));
    const others = (w: Window) =>
      w.faults.filter((f) => !CLOCK_NEMESES.includes(f.kind)).map((f) => ({ ...f, kind: f.kind === CRASH_NEMESIS ? "kill" : f.kind }));
    expect(after.map(others)).toEqual(before.map((w) => w.faults));
  });

  it("draws crashes as about half the kills, and clock faults within their bounds", () => {
    const faults = ["1", "2", "3", "4", "5", "6", "7", "8"].flatMap((seed) => randomSchedule(context(seed, NEMESES)).windows.flatMap((w) => w.faults));
    const kills = faults.filter((f) => f.kind === "kill").length;
    const crashes = faults.filter((f) => f.kind === CRASH_NEMESIS).length;
    expect(crashes).toBeGreaterThan(0);
    expect(crashes / (kills + crashes)).toBeGreaterThan(0.25);
    expect(crashes / (kills + crashes)).toBeLessThan(0.75);
    for (const f of faults) {
      if (f.kind === "clock-step") expect([60_000, -60_000]).toContain(f.params["stepMs"]);
      if (f.kind === "clock-skew") expect([1.05, 0.95]).toContain(f.params["rate"]);
      if (f.kind === "clock-strobe") {
        expect(f.params["amplitudeMs"]).toBeGreaterThanOrEqual(1000);
        expect(f.params["periodMs"]).toBeGreaterThanOrEqual(50);
      }
    }
    for (const kind of CLOCK_NEMESES)
      expect(
        faults.some((f) => f.kind === kind),
        kind,
      ).toBe(true);
  });

  it("reports the largest clock skew, which widens the TTL check's ε", () => {
    const schedule = randomSchedule(context("3", ["clock-skew"]));
    expect(schedule.clockSkewMax).toBeCloseTo(0.05, 10);
    expect(randomSchedule(context("3", ["kill"])).clockSkewMax).toBe(0);
  });

  it("crashes alone, when kill is not enabled", () => {
    const faults = randomSchedule(context("4", [CRASH_NEMESIS])).windows.flatMap((w) => w.faults);
    expect(faults.length).toBeGreaterThan(0);
    expect(faults.every((f) => f.kind === CRASH_NEMESIS)).toBe(true);
  });
});

describe("targeted schedules", () => {
  it.each(Object.keys(TARGETED))("%s draws the same windows from the same seed, and none in the heal", (name) => {
    const ctx = { ...context("9", NEMESES), durationMs: 30_000, healMs: 6000 };
    const a = targetedSchedule(name, ctx);
    expect(targetedSchedule(name, ctx)).toEqual(a);
    expect(a.windows.length).toBeGreaterThan(0);
    for (const w of a.windows) expect(w.endMs).toBeLessThanOrEqual(a.healAtMs);
  });
});
