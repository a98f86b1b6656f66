import { describe, expect, it } from "vitest";
import { EMPTY_CONF_STATE } from "../conf-state.js";
import type { LogIndex, Term } from "../types.js";
import { ReplayGroup } from "./replay-group.js";
import { makeEntries } from "./testing/wal-model.js";

const at = { segment: "wal-0000000000000002.log", offset: 40 };

function replayed(group: ReplayGroup): { first: number; last: number; terms: number[] } {
  const log = group.toLog();
  const terms: number[] = [];
  for (let index = log.firstIndex() - 1; index <= log.lastIndex(); index++) terms.push(log.term(index as LogIndex));
  return { first: log.firstIndex(), last: log.lastIndex(), terms };
}

describe("ReplayGroup", () => {
  it("appends and overwrites suffixes like the live log", () => {
    const group = new ReplayGroup(1);
    expect(group.append(makeEntries(1, 5, 1), at)).toBe(true);
    expect(group.append(makeEntries(3, 2, 2), at)).toBe(true);
    expect(group.unclosedHole()).toBeUndefined();
    expect(replayed(group)).toEqual({ first: 1, last: 4, terms: [0, 1, 1, 2, 2] });
  });

  it("refuses entries inside the snapshot", () => {
    const group = new ReplayGroup(1);
    group.reset({ term: 3 as Term, vote: undefined, commit: 10 as LogIndex }, 10 as LogIndex, 3 as Term, EMPTY_CONF_STATE);
    expect(group.append(makeEntries(10, 1, 3), at)).toBe(false);
  });

  it("opens a hole at a gap and reports it if no compaction closes it", () => {
    const group = new ReplayGroup(1);
    group.append(makeEntries(5, 3, 1), at);
    expect(group.unclosedHole()).toEqual(at);
  });

  it.each<[string, number, boolean, { first: number; last: number; terms: number[] }]>([
    ["a compaction at the hole's end keeps what follows", 4, true, { first: 5, last: 7, terms: [1, 1, 1, 1] }],
    ["a compaction inside the run keeps what follows it", 6, true, { first: 7, last: 7, terms: [1, 1] }],
    ["a compaction that discarded the log empties it", 6, false, { first: 7, last: 6, terms: [1] }],
    ["a compaction past the log empties it", 9, false, { first: 10, last: 9, terms: [1] }],
  ])("closes the hole: %s", (_name, index, keptSuffix, expected) => {
    const group = new ReplayGroup(1);
    group.append(makeEntries(5, 3, 1), at);
    group.compact(index as LogIndex, 1 as Term, keptSuffix);
    expect(group.unclosedHole()).toBeUndefined();
    expect(replayed(group)).toEqual(expected);
  });

  it("keeps a hole that a compaction only shrinks", () => {
    const group = new ReplayGroup(1);
    group.append(makeEntries(5, 3, 1), at);
    group.compact(2 as LogIndex, 1 as Term, true);
    expect(group.unclosedHole()).toEqual(at);
    group.compact(4 as LogIndex, 1 as Term, true);
    expect(group.unclosedHole()).toBeUndefined();
    expect(replayed(group).last).toBe(7);
  });
});
