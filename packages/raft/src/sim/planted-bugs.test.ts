import { describe, expect, it } from "vitest";
import type { RaftTestingBugs } from "../config.js";
import { CI_SAFETY_TICKS, CI_SEED_COUNT, CI_SEED_FIRST } from "./ci-seeds.js";
import type { FailureKind } from "./sim-result.js";
import { runSeedRange } from "./simulator-seeds.js";

/**
 * Each planted bug must be caught within the CI seed budget, by a safety
 * checker, the linearizability check or a core invariant (never merely by a
 * liveness timeout). The real core passes every CI seed (simulator-*.test.ts).
 */
const CAUGHT_BY: ReadonlySet<FailureKind> = new Set<FailureKind>([
  "election-safety",
  "log-matching",
  "leader-completeness",
  "state-machine-safety",
  "commit-quorum",
  "linearizability",
  "assertion",
]);

const PLANTED: ReadonlyArray<[string, RaftTestingBugs]> = [
  ["(a) two votes in one term", { grantMultipleVotesPerTerm: true }],
  ["(b) committing a previous-term entry by counting replicas", { commitPreviousTermByCounting: true }],
  ["(c) acknowledging an append before persisting it", { ackAppendBeforePersist: true }],
  ["(d) answering ReadIndex before an own-term commit", { readIndexBeforeOwnTermCommit: true }],
  ["(e) a vote written but not synced before it is sent (lost on power loss)", { voteWithoutSync: true }],
];

describe("planted bugs are caught within the CI seed budget", () => {
  for (const [name, bugs] of PLANTED) {
    it(
      name,
      async () => {
        const outcome = await runSeedRange(CI_SEED_FIRST, CI_SEED_COUNT, CI_SAFETY_TICKS, { bugs, stopAtFirstFailure: true });
        const failure = outcome.failures[0];
        expect(failure, `not caught in ${CI_SEED_COUNT} seeds`).toBeDefined();
        console.log(`${name}: caught after ${outcome.seedsRun} seed(s)\n${failure!.report.split("\n").slice(0, 3).join("\n")}`);
        expect(CAUGHT_BY.has(failure!.kind), failure!.report).toBe(true);
      },
      240_000,
    );
  }
});
