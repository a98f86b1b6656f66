// The checkers catch real bugs: each planted bug (apps/cache-node/src/config/testing-switches.ts),
// switched on in every node with --testing, must make its targeted schedule fail with
// the violation it causes. npm test runs seed 1 of each; npm run test:long runs
// PLANTED_BUG_SEEDS=2,3,4,5, so each bug is caught on 5 fixed seeds, and with
// PLANTED_BUG_WITHOUT=1 each schedule once without its bug, which must pass. A run
// lasts 20 s unless its case says otherwise, one at a time (PLANTED_BUG_PARALLEL allows
// more, but concurrent harnesses race for free ports). Runs the built node (after
// `npm run build`), in the vitest `cluster` project.
import { afterAll, describe, expect, it } from "vitest";
import { HarnessRunner } from "./run-harness.js";

interface PlantedBugCase {
  bug: string;
  schedule: string;
  /** What the verdict line must name. */
  verdict: RegExp;
  /** What else the report must show: the violation this bug causes, not any failure. */
  evidence: RegExp;
  /** Extra harness flags. */
  args?: string[];
  /** How long each run lasts, if not DURATION. */
  duration?: string;
}

const CASES: PlantedBugCase[] = [
  { bug: "ack-before-commit", schedule: "leader-isolation", verdict: /not linearizable|lost an acknowledged write/, evidence: /illegal/ },
  { bug: "follower-read-without-read-index", schedule: "lagging-follower", verdict: /not linearizable/, evidence: /illegal/ },
  { bug: "incr-twice", schedule: "indeterminate-writes", verdict: /applied one twice/, evidence: /ctr-\d+: counter is \d+, above .*: applied more than once/ },
  // Each run catches it on a few keys only (1 to 4 in 20 s), so it runs longer.
  { bug: "stale-read-index", schedule: "leader-churn", verdict: /not linearizable/, evidence: /reg-\d+:illegal|ctr-\d+:illegal/, duration: "35s" },
  // A node whose wall clock is 3 s behind the others': expiry judged by a local clock is then off by that much.
  {
    bug: "local-clock-expiry",
    schedule: "ttl-clock",
    verdict: /TTL violation/,
    evidence: /\[(present|expired)\]/,
    args: ["--node-args-for", "n2=--testing-clock-offset-ms -3000"],
  },
  // Nodes run with --testing-storage lossy, so a power loss drops what was never fsynced. Only
  // writes acknowledged while the third node is cut off are lost, and a 20 s run holds two such
  // windows, which once (seed 3) acknowledged none that a later read or count could miss.
  {
    bug: "append-without-fsync",
    schedule: "majority-crash",
    verdict: /lost an acknowledged write|digests differ/,
    evidence: /power losses: \d+, [1-9]\d* unsynced bytes lost/,
    duration: "35s",
  },
  // A voter that loses its unsynced vote in a power loss lets a second leader win the same
  // term; the two leaders' entries at the same indexes then differ between replicas.
  {
    bug: "unsynced-vote",
    schedule: "vote-loss",
    verdict: /digests differ|not linearizable/,
    evidence: /n\d leads term \d+, n\d loses power/,
  },
];

const SEEDS = (process.env["PLANTED_BUG_SEEDS"] ?? "1").split(",").map((seed) => seed.trim());
const WITHOUT = process.env["PLANTED_BUG_WITHOUT"] === "1";
const PARALLEL = Number(process.env["PLANTED_BUG_PARALLEL"] ?? 1);
const DURATION = "20s";
/** How long one run may take, checks included. */
const RUN_MS_MAX = 90_000;
/**
 * A case's timeout runs from when vitest starts it, and vitest starts up to 5 concurrent
 * cases at once (its default maxConcurrency), which then wait for a slot: a case may wait
 * behind 4 others before its own run.
 */
const RUN_TIMEOUT_MS = 5 * RUN_MS_MAX + 30_000;

/** Runs at most `slots` harness runs at once. */
class Slots {
  private waiting: (() => void)[] = [];
  private busy = 0;
  constructor(private readonly slots: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.busy >= this.slots) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.busy++;
    try {
      return await task();
    } finally {
      this.busy--;
      this.waiting.shift()?.();
    }
  }
}

const runners: HarnessRunner[] = [];
afterAll(() => Promise.all(runners.map((r) => r.stop())), 30_000);
const withBugSlots = new Slots(PARALLEL);
const aloneSlots = new Slots(1);

function run(args: string[]) {
  const runner = new HarnessRunner();
  runners.push(runner);
  return runner.run(args);
}

const runArgs = (c: PlantedBugCase, seed: string, withBug: boolean) => [
  ...["--schedule", c.schedule, "--seed", seed, "--duration", c.duration ?? DURATION],
  // With the bug, a violation is found fast: shorter budgets only turn more keys "unknown", or end a digest wait diverged replicas never end.
  ...(withBug ? ["--check-budget-ms", "1500", "--digest-wait-ms", "5000"] : []),
  // A bug's run is judged by the checker its bug breaks; watchers would only wait on replicas the bug let diverge.
  ...(withBug ? ["--watchers", "none"] : []),
  ...["--node-args", withBug ? `--testing --testing-bug ${c.bug}` : "--testing"],
  ...(c.args ?? []),
];

// One suite, so runs of different bugs share the slots too.
const RUNS = CASES.flatMap((c) => SEEDS.map((seed) => ({ ...c, seed })));

describe("planted bugs", () => {
  it.concurrent.each(RUNS)(
    "$bug fails the $schedule schedule, seed $seed",
    async (c) => {
      const { code, output } = await withBugSlots.run(() => run(runArgs(c, c.seed, true)));
      expect(code, output).toBe(1);
      const verdict = output.split("\n").find((line) => line.startsWith(`FAIL (seed ${c.seed})`));
      expect(verdict, output).toBeDefined();
      expect(verdict, output).toMatch(c.verdict);
      expect(output, verdict).toMatch(c.evidence);
      expect(output).toContain(`replay: npm run chaos -- --schedule ${c.schedule}`);
    },
    RUN_TIMEOUT_MS,
  );
});

describe.runIf(WITHOUT)("without the planted bugs", () => {
  it.each(CASES)(
    `passes the $schedule schedule, seed ${SEEDS[0]}`,
    async (c) => {
      const { code, output } = await aloneSlots.run(() => run(runArgs(c, SEEDS[0]!, false)));
      expect(code, output).toBe(0);
    },
    RUN_TIMEOUT_MS,
  );
});
