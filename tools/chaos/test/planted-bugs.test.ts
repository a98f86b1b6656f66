// The checkers catch real bugs: each planted bug (apps/cache-node/src/config/testing-switches.ts),
// switched on in every node with --testing, must make its targeted schedule fail with
// the violation it causes. npm test runs seed 1 of each; npm run test:long runs
// PLANTED_BUG_SEEDS=2,3,4,5, so each bug is caught on 5 fixed seeds, and each schedule once
// without its bug, which must pass. Every run lasts 20 s. Runs the built node (after
// `npm run build`), in the vitest `cluster` project.
import { afterAll, describe, expect, it } from "vitest";
import { HarnessRunner } from "./run-harness.js";

interface PlantedBugCase {
  bug: string;
  schedule: string;
  /** What the verdict line must name. */
  verdict: RegExp;
  /** Extra harness flags. */
  args?: string[];
}

const CASES: PlantedBugCase[] = [
  { bug: "ack-before-commit", schedule: "leader-isolation", verdict: /not linearizable|lost an acknowledged write/ },
  { bug: "follower-read-without-read-index", schedule: "lagging-follower", verdict: /not linearizable/ },
  { bug: "incr-twice", schedule: "indeterminate-writes", verdict: /applied one twice|not linearizable/ },
  { bug: "stale-read-index", schedule: "leader-churn", verdict: /not linearizable/ },
  // A node whose wall clock is 1.5 s behind the others': expiry judged by a local clock is then off by that much.
  { bug: "local-clock-expiry", schedule: "ttl-clock", verdict: /TTL violation/, args: ["--node-args-for", "n2=--testing-clock-offset-ms -1500"] },
  // Nodes run with --testing-storage lossy, so a crash loses what was never fsynced.
  { bug: "append-without-fsync", schedule: "majority-crash", verdict: /lost an acknowledged write|not linearizable/ },
];

const SEEDS = (process.env["PLANTED_BUG_SEEDS"] ?? "1").split(",").map((seed) => seed.trim());
const LONG = process.env["PLANTED_BUG_SEEDS"] !== undefined;
const DURATION = "20s";
const RUN_TIMEOUT_MS = 120_000;

const harness = new HarnessRunner();
afterAll(() => harness.stop(), 30_000);

const runArgs = (c: PlantedBugCase, seed: string, withBug: boolean) => [
  ...["--schedule", c.schedule, "--seed", seed, "--duration", DURATION],
  // With the bug, a violation is found fast; a short check budget only turns more keys "unknown".
  ...(withBug ? ["--check-budget-ms", "1500"] : []),
  ...["--node-args", withBug ? `--testing --testing-bug ${c.bug}` : "--testing"],
  ...(c.args ?? []),
];

describe.each(CASES)("planted bug $bug", (c) => {
  it.each(SEEDS)(
    `fails the ${c.schedule} schedule, seed %s`,
    async (seed) => {
      const { code, output } = await harness.run(runArgs(c, seed, true));
      expect(code, output).toBe(1);
      const verdict = output.split("\n").find((line) => line.startsWith(`FAIL (seed ${seed})`));
      expect(verdict, output).toMatch(c.verdict);
      expect(output).toContain(`replay: npm run chaos -- --schedule ${c.schedule}`);
    },
    RUN_TIMEOUT_MS,
  );

  it.runIf(LONG)(
    `passes the ${c.schedule} schedule without the bug, seed ${SEEDS[0]}`,
    async () => {
      const { code, output } = await harness.run(runArgs(c, SEEDS[0]!, false));
      expect(code, output).toBe(0);
    },
    RUN_TIMEOUT_MS,
  );
});
