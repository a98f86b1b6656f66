// The fault schedules drawn from a seed (tools/chaos/schedule.mjs).
import { describe, expect, it } from "vitest";
import {
  CLOCK_NEMESES,
  CRASH_NEMESIS,
  MEMBERS_MIN,
  MEMBERSHIP_NEMESES,
  MOVE_VICTIMS,
  NEMESES,
  TARGETED,
  randomSchedule,
  targetedSchedule,
  type Fault,
  type ScheduleContext,
  type Window,
} from "./schedule.mjs";

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
    const without = NEMESES.filter((k) => k !== CRASH_NEMESIS && !CLOCK_NEMESES.includes(k) && !MEMBERSHIP_NEMESES.includes(k));
    const before = randomSchedule(context(seed, without)).windows;
    const after = randomSchedule({ ...context(seed, NEMESES), nodesMax: 5 }).windows;
    expect(after.map((w) => [w.startMs, w.endMs])).toEqual(before.map((w) => [w.startMs, w.endMs]));
    const drawnAlone = (f: Fault) => CLOCK_NEMESES.includes(f.kind) || MEMBERSHIP_NEMESES.includes(f.kind);
    const others = (w: Window) => w.faults.filter((f) => !drawnAlone(f)).map((f) => ({ ...f, kind: f.kind === CRASH_NEMESIS ? "kill" : f.kind }));
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

/** The members after each membership change of the windows, in order, from `ids`; throws on an id added twice or one never added removed. */
function membersAfterEach(ids: readonly string[], windows: readonly Window[]): string[][] {
  const members = [...ids];
  const used = new Set(ids);
  const steps: string[][] = [];
  for (const f of windows.flatMap((w) => w.faults)) {
    const id = String(f.params["id"] ?? f.params["node"]);
    if (f.kind === "add-node") {
      if (used.has(id)) throw new Error(`${id} added again`);
      used.add(id);
      members.push(id);
    } else if (f.kind === "remove-node") {
      if (!members.includes(id)) throw new Error(`${id} removed but not a member`);
      members.splice(members.indexOf(id), 1);
    } else continue;
    steps.push([...members]);
  }
  return steps;
}

describe("membership nemeses", () => {
  const tenMinutes = (seed: string, ids: string[], nodesMax: number, enabled: readonly string[] = NEMESES): ScheduleContext => ({
    ...context(seed, enabled),
    ids,
    nodesMax,
    durationMs: 600_000,
    healMs: 60_000,
  });
  const seeds = Array.from({ length: 30 }, (_, i) => String(i + 1));
  const three = ["n1", "n2", "n3"];
  const five = ["n1", "n2", "n3", "n4", "n5"];

  it.each(["1", "7", "2026"])("are drawn from the seed: the same seed, the same schedule (seed %s)", (seed) => {
    const ctx = tenMinutes(seed, three, 5);
    const a = randomSchedule(ctx);
    expect(randomSchedule(ctx)).toEqual(a);
    expect(a.windows.some((w) => w.faults.some((f) => MEMBERSHIP_NEMESES.includes(f.kind)))).toBe(true);
    const other = randomSchedule(tenMinutes(seed === "1" ? "2" : "1", three, 5));
    expect(other.windows).not.toEqual(a.windows);
  });

  it.each([
    [three, 5],
    [three, 4],
    [five, 7],
    [five, 5],
  ])("stay within the node budget and never leave fewer than 3 members (%j, up to %i)", (ids, nodesMax) => {
    let changes = 0;
    for (const seed of seeds) {
      const { windows, healAtMs } = randomSchedule(tenMinutes(seed, ids, nodesMax));
      for (const members of membersAfterEach(ids, windows)) {
        changes++;
        expect(members.length).toBeLessThanOrEqual(nodesMax);
        expect(members.length).toBeGreaterThanOrEqual(MEMBERS_MIN);
      }
      for (const w of windows) {
        const kinds = w.faults.map((f) => f.kind);
        if (!kinds.some((k) => MEMBERSHIP_NEMESES.includes(k))) continue;
        // Alone with link, clock and client faults: no process fault in the same window, and none in the last 10 s before the heal.
        expect(kinds.filter((k) => ["kill", "crash", "pause"].includes(k))).toEqual([]);
        expect(w.endMs).toBeLessThanOrEqual(healAtMs - 10_000);
        // A kill during a move comes with the change that makes the moves.
        if (kinds.includes("kill-during-move")) expect(kinds.filter((k) => k === "add-node" || k === "remove-node")).toHaveLength(1);
      }
    }
    expect(changes).toBeGreaterThan(0);
  });

  it("draws no membership change the budget does not allow", () => {
    for (const seed of seeds) {
      const faults = randomSchedule(tenMinutes(seed, three, 3)).windows.flatMap((w) => w.faults);
      expect(faults.filter((f) => MEMBERSHIP_NEMESES.includes(f.kind))).toEqual([]);
    }
  });

  it("removes a node the run added before any it started with, and takes fresh ids", () => {
    for (const seed of seeds) {
      const faults = randomSchedule(tenMinutes(seed, three, 5)).windows.flatMap((w) => w.faults);
      const added = faults.filter((f) => f.kind === "add-node").map((f) => f.params["id"]);
      expect(added).toEqual(added.map((_, i) => `n${4 + i}`));
      // With 3 starting nodes, a removal needs an added node first: only those are removed.
      for (const f of faults.filter((x) => x.kind === "remove-node")) expect(added).toContain(f.params["node"]);
      for (const f of faults.filter((x) => x.kind === "kill-during-move")) {
        expect(MOVE_VICTIMS).toContain(f.params["victim"]);
        expect(f.params["downMs"]).toBeGreaterThanOrEqual(1000);
        expect(f.params["downMs"]).toBeLessThanOrEqual(4000);
      }
    }
  });

  it("kill-during-move alone brings its own change of membership", () => {
    const faults = seeds.flatMap((seed) => randomSchedule(tenMinutes(seed, three, 5, ["kill-during-move"])).windows.flatMap((w) => w.faults));
    const kills = faults.filter((f) => f.kind === "kill-during-move").length;
    expect(kills).toBeGreaterThan(0);
    expect(faults.filter((f) => f.kind === "add-node" || f.kind === "remove-node")).toHaveLength(kills);
  });

  it("the membership schedule adds, adds while it kills during a move, then removes the first node added", () => {
    const ctx = { ...context("1", NEMESES), durationMs: 60_000, healMs: 12_000 };
    const { windows } = targetedSchedule("membership", { ...ctx, nodesMax: 5 });
    expect(windows.map((w) => w.faults.map((f) => f.kind))).toEqual([["add-node"], ["add-node", "kill-during-move"], ["remove-node"]]);
    expect(windows.map((w) => w.faults[0]!.params["id"] ?? w.faults[0]!.params["node"])).toEqual(["n4", "n5", "n4"]);
    expect(windows[0]!.faults[0]!.params["settle"]).toBe(true);
    // Room for one more node only: the first node added leaves while a node of one of its moves is killed.
    const tight = targetedSchedule("membership", { ...ctx, nodesMax: 4 }).windows;
    expect(tight.map((w) => w.faults.map((f) => f.kind))).toEqual([["add-node"], ["remove-node", "kill-during-move"]]);
    expect(membersAfterEach(["n1", "n2", "n3"], tight)).toEqual([
      ["n1", "n2", "n3", "n4"],
      ["n1", "n2", "n3"],
    ]);
    expect(() => targetedSchedule("membership", { ...ctx, nodesMax: 3 })).toThrow(/nodes-max/);
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
