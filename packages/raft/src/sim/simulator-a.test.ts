import { describe, expect, it } from "vitest";
import { CI_SAFETY_TICKS, CI_SEED_COUNT, CI_SEED_FIRST } from "./ci-seeds.js";
import { describeCoverage } from "./coverage.js";
import { runSeedRange } from "./simulator-seeds.js";

// The CI seed set is split over two test files so vitest runs the halves in parallel.
const HALF = Math.ceil(CI_SEED_COUNT / 2);

describe("simulator, CI seeds (first half)", () => {
  it(`passes seeds ${CI_SEED_FIRST}..${CI_SEED_FIRST + HALF - 1}`, async () => {
    const outcome = await runSeedRange(CI_SEED_FIRST, HALF, CI_SAFETY_TICKS);
    console.log(`seeds ${CI_SEED_FIRST}..${CI_SEED_FIRST + HALF - 1}, ${CI_SAFETY_TICKS} ticks each\n${describeCoverage(outcome.coverage)}`);
    expect(outcome.failures.map((f) => f.report).join("\n")).toBe("");
    expect(outcome.coverage.elections).toBeGreaterThan(HALF);
    expect(outcome.coverage.crashes).toBeGreaterThan(0);
    expect(outcome.coverage.partitions).toBeGreaterThan(0);
    expect(outcome.coverage.transfersCompleted).toBeGreaterThan(0);
    expect(outcome.coverage.readsCompleted).toBeGreaterThan(0);
    expect(outcome.coverage.operationsChecked).toBeGreaterThan(0);
    expect(outcome.coverage.compactions).toBeGreaterThan(0);
    expect(outcome.coverage.snapshotsInstalled).toBeGreaterThan(0);
    expect(outcome.coverage.snapshotsFailed).toBeGreaterThan(0);
    expect(outcome.coverage.configChangesApplied).toBeGreaterThan(0);
    expect(outcome.coverage.learnersPromoted).toBeGreaterThan(0);
    expect(outcome.coverage.leadersRemoved).toBeGreaterThan(0);
  }, 240_000);
});
