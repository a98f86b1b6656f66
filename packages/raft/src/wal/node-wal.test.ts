import { describe, expect, it } from "vitest";
import { RaftAssertionError } from "../assert.js";
import type { HardState } from "../hard-state.js";
import { LogCompactedError, LogUnavailableError } from "../storage.js";
import type { LogIndex, NodeId, Term } from "../types.js";
import { MemoryWalFs } from "./memory-wal-fs.js";
import { NodeWal } from "./node-wal.js";
import { makeEntries, viewWal } from "./testing/wal-model.js";
import { WalClosedError, WalFailedError, WalLimitError } from "./wal-errors.js";

const DIR = "/node/wal";
const hs = (term: number, vote: string | undefined, commit: number): HardState => ({
  term: term as Term,
  vote: vote as NodeId | undefined,
  commit: commit as LogIndex,
});

describe("NodeWal", () => {
  it("starts empty and serves the core's Storage contract for a new group", async () => {
    const wal = await NodeWal.open(DIR, { fs: new MemoryWalFs() });
    expect(wal.groups()).toEqual([]);
    const storage = wal.storage(7);
    expect(storage.initialState()).toEqual({ hardState: hs(0, undefined, 0), voters: [] });
    expect([storage.firstIndex(), storage.lastIndex(), storage.term(0 as LogIndex)]).toEqual([1, 0, 0]);
    expect(wal.groups()).toEqual([7]);
    await wal.close();
  });

  it("round-trips entries and hard state of several groups through a reopen", async () => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { fs });
    await wal.append(
      [
        { group: 1, entries: makeEntries(1, 3, 1), hardState: hs(1, "n1", 2) },
        { group: 2, entries: makeEntries(1, 2, 4), hardState: hs(4, undefined, 0) },
      ],
      true,
    );
    await wal.append([{ group: 1, entries: makeEntries(3, 2, 2) }], true);
    const before = viewWal(wal);
    expect(before[0]!.lastIndex).toBe(4);
    expect(before[0]!.terms).toEqual([0, 1, 1, 2, 2]);
    await wal.close();
    const reopened = await NodeWal.open(DIR, { fs });
    expect(viewWal(reopened)).toEqual(before);
    expect(reopened.storage(1).hardState()).toEqual(hs(1, "n1", 2));
    await reopened.close();
  });

  it("limits entries() by bytes but always returns one entry", async () => {
    const wal = await NodeWal.open(DIR, { fs: new MemoryWalFs() });
    await wal.append([{ group: 1, entries: makeEntries(1, 10, 1, 100) }], false);
    const storage = wal.storage(1);
    expect(storage.entries(1 as LogIndex, 11 as LogIndex, 0)).toHaveLength(1);
    expect(storage.entries(1 as LogIndex, 11 as LogIndex, 3 * 116)).toHaveLength(3);
    expect(storage.entries(4 as LogIndex, 4 as LogIndex, 1000)).toHaveLength(0);
    expect(() => storage.entries(1 as LogIndex, 12 as LogIndex, 1000)).toThrow(LogUnavailableError);
    expect(() => storage.term(11 as LogIndex)).toThrow(LogUnavailableError);
    await wal.compact(1, 5 as LogIndex, 1 as Term);
    expect(() => storage.entries(5 as LogIndex, 6 as LogIndex, 1000)).toThrow(LogCompactedError);
    expect(() => storage.term(4 as LogIndex)).toThrow(LogCompactedError);
    expect(storage.term(5 as LogIndex)).toBe(1);
    await wal.close();
  });

  it("overwrites an uncommitted suffix", async () => {
    const wal = await NodeWal.open(DIR, { fs: new MemoryWalFs() });
    await wal.append([{ group: 1, entries: makeEntries(1, 5, 1), hardState: hs(1, undefined, 2) }], true);
    await wal.append([{ group: 1, entries: makeEntries(3, 1, 2), hardState: hs(2, undefined, 2) }], true);
    expect(wal.storage(1).lastIndex()).toBe(3);
    expect(wal.storage(1).term(3 as LogIndex)).toBe(2);
    await wal.close();
  });
});

describe("NodeWal assertions (programmer errors) change nothing", () => {
  const cases: Array<[string, (wal: NodeWal) => Promise<void>]> = [
    ["a gap after the log", (wal) => wal.append([{ group: 1, entries: makeEntries(5, 1, 1) }], true)],
    ["non-consecutive indexes", (wal) => wal.append([{ group: 1, entries: [...makeEntries(4, 1, 1), ...makeEntries(6, 1, 1)] }], true)],
    ["a term going backwards along the log", (wal) => wal.append([{ group: 1, entries: makeEntries(4, 1, 0) }], true)],
    ["overwriting a committed entry", (wal) => wal.append([{ group: 1, entries: makeEntries(2, 1, 3) }], true)],
    ["a persisted term going backwards", (wal) => wal.append([{ group: 1, entries: [], hardState: hs(0, undefined, 2) }], true)],
    ["a vote changing within a term", (wal) => wal.append([{ group: 1, entries: [], hardState: hs(1, "n2", 2) }], true)],
    ["a commit index going backwards", (wal) => wal.append([{ group: 1, entries: [], hardState: hs(1, "n1", 1) }], true)],
    ["a commit index past the log", (wal) => wal.append([{ group: 1, entries: [], hardState: hs(1, "n1", 4) }], true)],
    [
      "the same group twice in a batch",
      (wal) =>
        wal.append(
          [
            { group: 1, entries: makeEntries(4, 1, 1) },
            { group: 1, entries: [] },
          ],
          true,
        ),
    ],
    ["a negative group id", (wal) => wal.append([{ group: -1, entries: makeEntries(1, 1, 1) }], true)],
    ["a snapshot contradicting a committed entry", (wal) => wal.compact(1, 2 as LogIndex, 5 as Term)],
    [
      "a valid item followed by a bad one",
      (wal) =>
        wal.append(
          [
            { group: 2, entries: makeEntries(1, 1, 1) },
            { group: 1, entries: makeEntries(9, 1, 1) },
          ],
          true,
        ),
    ],
  ];

  it.each(cases)("rejects %s", async (_name, misuse) => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { fs });
    await wal.append([{ group: 1, entries: makeEntries(1, 3, 1), hardState: hs(1, "n1", 2) }], true);
    const before = viewWal(wal);
    const written = wal.stats.bytesWritten;
    await expect(misuse(wal)).rejects.toThrow(RaftAssertionError);
    expect(viewWal(wal)).toEqual(before);
    expect(wal.stats.bytesWritten).toBe(written);
    await wal.close();
  });
});

describe("NodeWal limits and failures", () => {
  it("refuses an entry larger than a record", async () => {
    const wal = await NodeWal.open(DIR, { fs: new MemoryWalFs(), recordBytesMax: 4096, groupsMax: 4 });
    await expect(wal.append([{ group: 1, entries: makeEntries(1, 1, 1, 5000) }], true)).rejects.toThrow(WalLimitError);
    expect(wal.storage(1).lastIndex()).toBe(0);
    await wal.close();
  });

  it("splits a large append into records of at most recordBytesMax", async () => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { fs, recordBytesMax: 4096, groupsMax: 4 });
    await wal.append([{ group: 1, entries: makeEntries(1, 100, 1, 500) }], true);
    await wal.close();
    const reopened = await NodeWal.open(DIR, { fs, recordBytesMax: 4096, groupsMax: 4 });
    expect(reopened.storage(1).lastIndex()).toBe(100);
    await reopened.close();
  });

  it("refuses more groups than groupsMax", async () => {
    const wal = await NodeWal.open(DIR, { fs: new MemoryWalFs(), groupsMax: 2 });
    wal.storage(1);
    wal.storage(2);
    expect(() => wal.storage(3)).toThrow(WalLimitError);
    await expect(wal.append([{ group: 4, entries: makeEntries(1, 1, 1) }], true)).rejects.toThrow(WalLimitError);
    await wal.close();
  });

  it.each([
    [{ segmentBytesMax: 100 }],
    [{ segmentBytesMax: 1.5 }],
    [{ recordBytesMax: 10 }],
    [{ groupsMax: 0 }],
    [{ groupsMax: 1000, recordBytesMax: 4096 }],
    [{ pendingBytesMax: 2048, recordBytesMax: 4096, groupsMax: 1 }],
  ])("validates options %j", async (options) => {
    await expect(NodeWal.open(DIR, { fs: new MemoryWalFs(), ...options })).rejects.toThrow(WalLimitError);
  });

  it("refuses appends beyond pendingBytesMax until earlier ones are written", async () => {
    const wal = await NodeWal.open(DIR, { fs: new MemoryWalFs(), pendingBytesMax: 4096, recordBytesMax: 4096, groupsMax: 4 });
    const calls: Promise<void>[] = [];
    let refusedAt = -1;
    // No await in between: every call after the first queues behind its flush, about 850 B each.
    for (let i = 0; i < 20 && refusedAt < 0; i++) {
      const last = wal.storage(1).lastIndex();
      calls.push(wal.append([{ group: 1, entries: makeEntries(last + 1, 4, 1, 200) }], false));
      if (wal.storage(1).lastIndex() === last) refusedAt = i;
    }
    expect(refusedAt).toBeGreaterThan(3);
    await expect(calls.at(-1)).rejects.toThrow(WalLimitError);
    await Promise.all(calls.slice(0, -1));
    // Once written, the queue has room again.
    const last = wal.storage(1).lastIndex();
    await wal.append([{ group: 1, entries: makeEntries(last + 1, 4, 1, 200) }], true);
    expect(wal.storage(1).lastIndex()).toBe(last + 4);
    await wal.close();
  });

  it("fails every later call after an I/O error", async () => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { fs });
    fs.failNext("datasync");
    await expect(wal.append([{ group: 1, entries: makeEntries(1, 1, 1) }], true)).rejects.toThrow(WalFailedError);
    await expect(wal.append([{ group: 1, entries: makeEntries(2, 1, 1) }], true)).rejects.toThrow(WalFailedError);
    await wal.close();
  });

  it("refuses work after close", async () => {
    const wal = await NodeWal.open(DIR, { fs: new MemoryWalFs() });
    await wal.close();
    await expect(wal.append([{ group: 1, entries: makeEntries(1, 1, 1) }], true)).rejects.toThrow(WalClosedError);
    await expect(wal.compact(1, 1 as LogIndex, 1 as Term)).rejects.toThrow(WalClosedError);
  });
});

describe("NodeWal groups", () => {
  it("drops a group for good, and a later group with the same id starts empty", async () => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { fs });
    await wal.append([{ group: 5, entries: makeEntries(1, 3, 2), hardState: hs(2, "n1", 3) }], true);
    const stale = wal.storage(5);
    await wal.dropGroup(5);
    expect(wal.groups()).toEqual([]);
    expect(() => stale.lastIndex()).toThrow(RaftAssertionError);
    await wal.append([{ group: 5, entries: makeEntries(1, 1, 7) }], true);
    await wal.close();
    const reopened = await NodeWal.open(DIR, { fs });
    expect(viewWal(reopened).map((view) => [view.group, view.lastIndex, view.hardState.term])).toEqual([[5, 1, 0]]);
    await reopened.close();
  });

  it("records a snapshot past the log (one received from the leader) and continues after it", async () => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { fs });
    await wal.append([{ group: 1, entries: makeEntries(1, 3, 1) }], true);
    await wal.compact(1, 100 as LogIndex, 4 as Term);
    await wal.append([{ group: 1, entries: makeEntries(101, 2, 4), hardState: hs(4, undefined, 101) }], true);
    await wal.close();
    const storage = (await NodeWal.open(DIR, { fs })).storage(1);
    expect([storage.firstIndex(), storage.lastIndex(), storage.term(100 as LogIndex), storage.snapshotTerm()]).toEqual([101, 102, 4, 4]);
  });

  it("stores membership-change entries (kind config) like any other", async () => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { fs });
    const data = new Uint8Array([1, 0x6e, 0x34]);
    await wal.append([{ group: 1, entries: [{ index: 1 as LogIndex, term: 1 as Term, kind: "config", data }] }], true);
    await wal.close();
    const reopened = await NodeWal.open(DIR, { fs });
    expect(reopened.storage(1).entries(1 as LogIndex, 2 as LogIndex, 100)).toEqual([{ index: 1, term: 1, kind: "config", data }]);
    await reopened.close();
  });

  it("keeps the membership of each snapshot point across reopens and segment rolls", async () => {
    const fs = new MemoryWalFs();
    const options = { fs, segmentBytesMax: 1024, recordBytesMax: 4096, groupsMax: 4 };
    const wal = await NodeWal.open(DIR, options);
    const conf = { voters: ["n1", "n2", "n3"] as NodeId[], learners: ["n4"] as NodeId[] };
    await wal.append([{ group: 1, entries: makeEntries(1, 6, 1, 10), hardState: hs(1, undefined, 6) }], true);
    await wal.compact(1, 4 as LogIndex, 1 as Term, conf);
    expect(wal.storage(1).snapshot()).toEqual({ index: 4, term: 1, confState: conf });
    // Without a membership, the previous one stays.
    await wal.compact(1, 5 as LogIndex, 1 as Term);
    expect(wal.storage(1).snapshot().confState).toEqual(conf);
    for (let i = 7; i < 60; i++) await wal.append([{ group: 1, entries: makeEntries(i, 1, 1, 40) }], false);
    await wal.close();
    const reopened = await NodeWal.open(DIR, options);
    expect(reopened.storage(1).snapshot()).toEqual({ index: 5, term: 1, confState: conf });
    expect(reopened.storage(1).lastIndex()).toBe(59);
    await reopened.close();
  });

  it("installs a snapshot from the leader through append: the whole log goes, then entries follow it", async () => {
    const fs = new MemoryWalFs({ lossy: true });
    const wal = await NodeWal.open(DIR, { fs });
    await wal.append([{ group: 1, entries: makeEntries(1, 5, 1), hardState: hs(2, undefined, 2) }], true);
    const snapshot = { index: 4 as LogIndex, term: 1 as Term, confState: { voters: ["n1", "n2"] as NodeId[], learners: [] } };
    const fsyncs = wal.stats.fsyncs;
    // The log agrees with the snapshot at 4, yet an install discards everything: the core already did.
    await wal.append([{ group: 1, snapshot, entries: makeEntries(5, 2, 2), hardState: hs(2, undefined, 4) }], false);
    expect(wal.stats.fsyncs - fsyncs).toBe(1);
    const storage = wal.storage(1);
    expect([storage.firstIndex(), storage.lastIndex(), storage.term(5 as LogIndex), storage.snapshot()]).toEqual([5, 6, 2, snapshot]);
    const reopened = await NodeWal.open(DIR, { fs: fs.crash() });
    expect(viewWal(reopened)).toEqual(viewWal(wal));
    expect(reopened.storage(1).snapshot()).toEqual(snapshot);
    await reopened.close();
  });

  it("refuses an install that is not newer, or that contradicts a committed entry, and changes nothing", async () => {
    const wal = await NodeWal.open(DIR, { fs: new MemoryWalFs() });
    await wal.append([{ group: 1, entries: makeEntries(1, 5, 1), hardState: hs(1, undefined, 3) }], true);
    await wal.compact(1, 2 as LogIndex, 1 as Term);
    const before = viewWal(wal);
    const conf = { voters: [], learners: [] };
    await expect(wal.append([{ group: 1, snapshot: { index: 2 as LogIndex, term: 1 as Term, confState: conf }, entries: [] }], true)).rejects.toThrow(
      RaftAssertionError,
    );
    await expect(wal.append([{ group: 1, snapshot: { index: 3 as LogIndex, term: 2 as Term, confState: conf }, entries: [] }], true)).rejects.toThrow(
      RaftAssertionError,
    );
    await expect(
      wal.append([{ group: 1, snapshot: { index: 9 as LogIndex, term: 2 as Term, confState: conf }, entries: makeEntries(11, 1, 2) }], true),
    ).rejects.toThrow(RaftAssertionError);
    expect(viewWal(wal)).toEqual(before);
    await wal.close();
  });
});

describe("NodeWal group commit", () => {
  it("writes one batch of many groups with one write and one fdatasync", async () => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { fs });
    const fsyncs = wal.stats.fsyncs;
    const appends = fs.operationCounts.get("append") ?? 0;
    await wal.append(
      [1, 2, 3].map((group) => ({ group, entries: makeEntries(1, 64, 1, 16), hardState: hs(1, "n1", 0) })),
      true,
    );
    expect(wal.stats.fsyncs - fsyncs).toBe(1);
    expect((fs.operationCounts.get("append") ?? 0) - appends).toBe(1);
    await wal.close();
  });

  it("coalesces calls that arrive while a flush runs", async () => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { fs });
    const fsyncs = wal.stats.fsyncs;
    const calls: Promise<void>[] = [];
    for (let i = 1; i <= 10; i++) calls.push(wal.append([{ group: 1, entries: makeEntries(i, 1, 1) }], true));
    await Promise.all(calls);
    // The first call flushes alone; the nine that queued behind it share the second flush.
    expect(wal.stats.fsyncs - fsyncs).toBe(2);
    expect(wal.storage(1).lastIndex()).toBe(10);
    await wal.close();
  });

  it("applies a sync=false append without an fdatasync", async () => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { fs });
    const fsyncs = wal.stats.fsyncs;
    await wal.append([{ group: 1, entries: makeEntries(1, 1, 1) }], false);
    expect(wal.stats.fsyncs).toBe(fsyncs);
    await wal.close();
  });
});
