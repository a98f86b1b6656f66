import { describe, expect, it } from "vitest";
import type { Entry } from "./entry.js";
import { MemoryStorage } from "./memory-storage.js";
import { RaftLog } from "./raft-log.js";
import type { LogIndex, Term } from "./types.js";

function entries(terms: readonly number[], firstIndex = 1): Entry[] {
  return terms.map((term, i) => ({ term: term as Term, index: (firstIndex + i) as LogIndex, kind: "command", data: new Uint8Array([i]) }));
}

function logWith(stableTerms: readonly number[], unstableTerms: readonly number[] = []): RaftLog {
  const storage = new MemoryStorage();
  storage.append(entries(stableTerms));
  const log = new RaftLog(storage, 0 as LogIndex, 0 as LogIndex);
  log.append(entries(unstableTerms, stableTerms.length + 1));
  return log;
}

const at = (n: number): LogIndex => n as LogIndex;
const term = (n: number): Term => n as Term;

describe("RaftLog", () => {
  it("reads terms across stable storage and the unstable tail", () => {
    const log = logWith([1, 1, 2], [2, 3]);
    expect(log.lastIndex()).toBe(5);
    expect([0, 1, 2, 3, 4, 5, 6].map((i) => log.term(at(i)))).toEqual([0, 1, 1, 2, 2, 3, undefined]);
    expect(log.persistedLastIndex()).toBe(3);
  });

  it("shadows the stable suffix once a conflicting append replaces it", () => {
    const log = logWith([1, 1, 1, 1]);
    expect(log.maybeAppend(at(2), term(1), at(0), entries([2, 2], 3))).toBe(4);
    expect(log.term(at(3))).toBe(2);
    expect(log.persistedLastIndex()).toBe(2);
    expect(log.entries(at(1), at(5), 1000).map((e) => e.term)).toEqual([1, 1, 2, 2]);
  });

  it("rejects an append whose previous entry does not match", () => {
    const log = logWith([1, 2]);
    expect(log.maybeAppend(at(2), term(1), at(0), entries([3], 3))).toBeUndefined();
    expect(log.maybeAppend(at(5), term(2), at(0), entries([3], 6))).toBeUndefined();
  });

  it("commits only what the leader proved to match", () => {
    const log = logWith([1, 1, 1, 1, 1]);
    log.maybeAppend(at(2), term(1), at(5), []);
    expect(log.committed).toBe(2);
  });

  it("refuses to commit past its last index", () => {
    const log = logWith([1]);
    expect(() => log.commitTo(at(2))).toThrow(/past the last index/);
  });

  it("hints the conflicting term and its first index above the commit", () => {
    const log = logWith([1, 2, 2, 2, 3]);
    expect(log.conflictHint(at(4))).toEqual({ conflictTerm: 2, conflictIndex: 2 });
    log.commitTo(at(2));
    expect(log.conflictHint(at(4))).toEqual({ conflictTerm: 2, conflictIndex: 3 });
    expect(log.conflictHint(at(9))).toEqual({ conflictTerm: 0, conflictIndex: 6 });
  });

  it("finds the last index at or below a term", () => {
    const log = logWith([1, 1, 3, 3, 5]);
    expect(log.lastIndexAtOrBelowTerm(at(5), term(3))).toEqual({ index: 4, term: 3 });
    expect(log.lastIndexAtOrBelowTerm(at(5), term(2))).toEqual({ index: 2, term: 1 });
    expect(log.lastIndexAtOrBelowTerm(at(5), term(0))).toEqual({ index: 0, term: 0 });
  });

  it("compares logs by last term, then length (paper §5.4.1)", () => {
    const log = logWith([1, 2, 2]);
    expect(log.isUpToDate(at(1), term(3))).toBe(true);
    expect(log.isUpToDate(at(3), term(2))).toBe(true);
    expect(log.isUpToDate(at(2), term(2))).toBe(false);
    expect(log.isUpToDate(at(9), term(1))).toBe(false);
  });

  it("limits entries by size but returns at least one", () => {
    const log = logWith([1, 1, 1], [1, 1]);
    expect(log.entries(at(1), at(6), 1)).toHaveLength(1);
    expect(log.entries(at(2), at(6), 34)).toHaveLength(2);
    expect(log.entries(at(1), at(6), 10_000)).toHaveLength(5);
  });

  it("keeps entries unstable when the tail changed before advance", () => {
    const log = logWith([1], [1, 1]);
    log.maybeAppend(at(1), term(1), at(0), entries([2], 2));
    log.stableTo(at(3), term(1));
    expect(log.unstable.entries.map((e) => e.index)).toEqual([2]);
    log.stableTo(at(2), term(2));
    expect(log.unstable.isEmpty).toBe(true);
  });

  it("reads a compacted log from its snapshot on, and starts applied at the snapshot", () => {
    const storage = new MemoryStorage();
    storage.append(entries([1, 1, 2, 2]));
    storage.setHardState({ term: term(2), vote: undefined, commit: at(3) });
    storage.compact({ index: at(2), term: term(1), confState: { voters: [], learners: [] } });
    const log = new RaftLog(storage, at(0), at(0));
    expect([log.firstIndex(), log.lastIndex(), log.committed, log.applied]).toEqual([3, 4, 2, 2]);
    expect([1, 2, 3].map((i) => log.term(at(i)))).toEqual([undefined, 1, 2]);
    expect(log.nextCommittedEntries(1000)).toEqual([]);
    expect(log.conflictHint(at(4))).toEqual({ conflictTerm: 2, conflictIndex: 3 });
  });

  it("restores a snapshot in place of the whole log until the host persists it (thesis §5.3)", () => {
    const log = logWith([1, 1], [2, 2]);
    const snapshot = { index: at(6), term: term(3), confState: { voters: [], learners: [] } };
    log.restore(snapshot);
    expect([log.firstIndex(), log.lastIndex(), log.committed, log.persistedLastIndex()]).toEqual([7, 6, 6, 0]);
    expect([2, 5, 6, 7].map((i) => log.term(at(i)))).toEqual([undefined, undefined, 3, undefined]);
    // Entries after it apply only once the snapshot is restored: the host applies it first.
    log.append(entries([3], 7));
    log.commitTo(at(7));
    expect(log.nextCommittedEntries(1000).map((e) => e.index)).toEqual([7]);
    expect(() => log.restore({ ...snapshot, index: at(5) })).toThrow(/commit index/);
    log.stableSnapshotTo(at(6));
    expect([log.applied, log.pendingSnapshot()]).toEqual([6, undefined]);
  });
});
