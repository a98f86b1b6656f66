import { describe, expect, it } from "vitest";
import { SAFETY_TICKS_DEFAULT, replayCommand, swarmOptions } from "./options.js";
import { runSeed } from "./run-seeds.js";
import { SafetyChecker, SafetyViolation } from "./safety-checker.js";
import type { Entry } from "../entry.js";
import type { LogIndex, NodeId, Term } from "../types.js";

async function trace(seed: number, nodeCount: 3 | 5): Promise<{ lines: string[]; coverage: unknown }> {
  const lines: string[] = [];
  const result = await runSeed({ seed, nodeCount }, 300, {}, (line) => lines.push(line));
  return { lines, coverage: result.coverage };
}

const entry = (index: number, term: number, text: string): Entry => ({
  index: index as LogIndex,
  term: term as Term,
  kind: "command",
  data: new TextEncoder().encode(text),
});
const n = (id: string): NodeId => id as NodeId;

describe("simulator", () => {
  it("replays a seed exactly", async () => {
    const first = await trace(42, 5);
    const second = await trace(42, 5);
    expect(second.lines).toEqual(first.lines);
    expect(second.coverage).toEqual(first.coverage);
    expect((await trace(43, 5)).lines).not.toEqual(first.lines);
  });

  it("varies the fault mix per seed (swarm)", () => {
    const a = swarmOptions(1, 3);
    const b = swarmOptions(2, 3);
    expect(a).not.toEqual(b);
    expect(swarmOptions(1, 3)).toEqual(a);
  });

  it("prints the one command that replays a run", () => {
    expect(replayCommand({ seed: 7, nodeCount: 5, safetyTicks: SAFETY_TICKS_DEFAULT, bugs: {} })).toBe("npm run sim -- --seed 7 --nodes 5");
    expect(replayCommand({ seed: 7, nodeCount: 3, safetyTicks: 900, bugs: { ackAppendBeforePersist: true } })).toBe(
      "npm run sim -- --seed 7 --nodes 3 --ticks 900 --bug ack-before-persist",
    );
  });
});

describe("SafetyChecker", () => {
  const noLog = (): Term | undefined => undefined;

  it("flags two leaders in one term", () => {
    const checker = new SafetyChecker();
    checker.observeLeader(n("n1"), 3 as Term, noLog);
    expect(checker.observeLeader(n("n1"), 3 as Term, noLog)).toBe(false);
    expect(() => checker.observeLeader(n("n2"), 3 as Term, noLog)).toThrow(SafetyViolation);
  });

  it("flags two entries at one (index, term) or with different predecessors", () => {
    const checker = new SafetyChecker();
    checker.observeAppend(n("n1"), [entry(1, 1, "a"), entry(2, 1, "b")], 0 as Term);
    checker.observeAppend(n("n2"), [entry(2, 1, "b")], 1 as Term);
    expect(() => checker.observeAppend(n("n3"), [entry(2, 1, "c")], 1 as Term)).toThrow(/log-matching/);
    expect(() => checker.observeAppend(n("n3"), [entry(2, 1, "b")], 0 as Term)).toThrow(/log-matching/);
  });

  it("flags a leader missing an entry committed in an earlier term", () => {
    const checker = new SafetyChecker();
    const log: Record<number, number> = { 1: 1, 2: 2 };
    checker.observeLeaderCommit(2 as Term, 0 as LogIndex, 2 as LogIndex, (i) => log[i] as Term | undefined);
    expect(() => checker.observeLeader(n("n2"), 3 as Term, (i) => (({ 1: 1, 2: 3 }) as Record<number, number>)[i] as Term | undefined)).toThrow(
      /leader-completeness/,
    );
    // A leader of the committing term itself (or earlier) is not bound by it.
    expect(() => checker.observeLeader(n("n3"), 2 as Term, () => 9 as Term)).not.toThrow();
  });

  it("flags a commit that a majority of the voters in force does not hold", () => {
    const checker = new SafetyChecker();
    const voters = [n("n1"), n("n2"), n("n3"), n("n4")];
    const holders = new Set(["n1", "n2", "n3"]);
    expect(() => checker.observeQuorumCommit(n("n1"), 5 as LogIndex, 2 as Term, voters, (v) => holders.has(v))).not.toThrow();
    holders.delete("n3"); // two of four is not a majority, whoever else (a learner) holds it
    expect(() => checker.observeQuorumCommit(n("n1"), 5 as LogIndex, 2 as Term, voters, (v) => holders.has(v))).toThrow(/commit-quorum/);
  });

  it("flags different entries applied at one index", () => {
    const checker = new SafetyChecker();
    checker.observeApply(n("n1"), entry(1, 1, "a"));
    checker.observeApply(n("n2"), entry(1, 1, "a"));
    expect(() => checker.observeApply(n("n3"), entry(1, 2, "x"))).toThrow(/state-machine-safety/);
  });
});
