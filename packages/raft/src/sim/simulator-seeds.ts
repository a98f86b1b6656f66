import type { RaftTestingBugs } from "../config.js";
import type { Coverage } from "./coverage.js";
import { addCoverage, emptyCoverage } from "./coverage.js";
import { defaultNodeCount, runSeed } from "./run-seeds.js";
import type { FailureKind } from "./sim-result.js";

export interface SeedFailure {
  readonly seed: number;
  readonly kind: FailureKind;
  /** One paragraph: what broke, and the command that replays it. */
  readonly report: string;
}

export interface SeedRangeOutcome {
  readonly coverage: Coverage;
  readonly seedsRun: number;
  readonly failures: readonly SeedFailure[];
}

/**
 * Runs seeds [first, first + count). With `stopAtFirstFailure` it returns as
 * soon as one fails (the planted-bug tests); each failure is described with
 * the command that replays it.
 */
export async function runSeedRange(
  first: number,
  count: number,
  safetyTicks: number,
  options: { bugs?: RaftTestingBugs; stopAtFirstFailure?: boolean } = {},
): Promise<SeedRangeOutcome> {
  let coverage = emptyCoverage();
  const failures: SeedFailure[] = [];
  let seedsRun = 0;
  for (let seed = first; seed < first + count; seed += 1) {
    const result = await runSeed({ seed, nodeCount: defaultNodeCount(seed) }, safetyTicks, options.bugs);
    seedsRun += 1;
    coverage = addCoverage(coverage, result.coverage);
    if (result.failure === undefined) continue;
    const report = `seed ${seed} failed at tick ${result.failure.atTick} (${result.failure.kind}): ${result.failure.message}\n  replay: ${result.replay}`;
    failures.push({ seed, kind: result.failure.kind, report });
    if (options.stopAtFirstFailure === true) break;
  }
  return { coverage, seedsRun, failures };
}
