import { describe, expect, it } from "vitest";
import type { HardState } from "../hard-state.js";
import type { LogIndex, NodeId, Term } from "../types.js";
import { MemoryWalFs } from "./memory-wal-fs.js";
import { NodeWal } from "./node-wal.js";
import { makeEntries, viewWal } from "./testing/wal-model.js";
import { WalFailedError } from "./wal-errors.js";

const DIR = "/srv/wal";
const hs = (term: number, vote: string | undefined, commit: number): HardState => ({
  term: term as Term,
  vote: vote as NodeId | undefined,
  commit: commit as LogIndex,
});

describe("power loss (MemoryWalFs lossy mode)", () => {
  it("keeps exactly the synced state: later unsynced appends are lost, nothing synced is", async () => {
    let fs = new MemoryWalFs({ lossy: true });
    const wal = await NodeWal.open(DIR, { fs });
    await wal.append(
      [
        { group: 1, entries: makeEntries(1, 5, 1), hardState: hs(1, "n1", 3) },
        { group: 2, entries: makeEntries(1, 2, 1), hardState: hs(1, "n2", 0) },
      ],
      true,
    );
    const synced = viewWal(wal);
    await wal.append([{ group: 1, entries: makeEntries(6, 3, 1), hardState: hs(1, "n1", 5) }], false);
    await wal.append([{ group: 2, entries: makeEntries(2, 1, 2), hardState: hs(2, undefined, 1) }], false);
    await wal.append([{ group: 3, entries: makeEntries(1, 1, 1) }], false);
    expect(viewWal(wal)).not.toEqual(synced);

    fs = fs.crash();
    const recovered = await NodeWal.open(DIR, { fs });
    expect(viewWal(recovered)).toEqual(synced);
    await recovered.close();
  });

  it("shows that a missing fsync loses data, which kill -9 (non-lossy crash) cannot show", async () => {
    for (const lossy of [false, true]) {
      let fs = new MemoryWalFs({ lossy });
      const wal = await NodeWal.open(DIR, { fs });
      await wal.append([{ group: 1, entries: makeEntries(1, 4, 1) }], false);
      fs = fs.crash();
      const recovered = await NodeWal.open(DIR, { fs });
      expect(recovered.storage(1).lastIndex(), lossy ? "power loss" : "process kill").toBe(lossy ? 0 : 4);
      await recovered.close();
    }
  });

  it("makes earlier unsynced appends durable with a later synced one, even an empty one", async () => {
    let fs = new MemoryWalFs({ lossy: true });
    const wal = await NodeWal.open(DIR, { fs });
    await wal.append([{ group: 1, entries: makeEntries(1, 4, 1) }], false);
    await wal.append([], true);
    fs = fs.crash();
    const recovered = await NodeWal.open(DIR, { fs });
    expect(recovered.storage(1).lastIndex()).toBe(4);
    await recovered.close();
  });

  it("keeps compactions and drops, which are always synced", async () => {
    let fs = new MemoryWalFs({ lossy: true });
    const wal = await NodeWal.open(DIR, { fs });
    await wal.append(
      [
        { group: 1, entries: makeEntries(1, 6, 1), hardState: hs(1, undefined, 6) },
        { group: 2, entries: makeEntries(1, 1, 1) },
      ],
      false,
    );
    await wal.compact(1, 4 as LogIndex, 1 as Term);
    await wal.dropGroup(2);
    const expected = viewWal(wal);
    fs = fs.crash();
    const recovered = await NodeWal.open(DIR, { fs });
    expect(viewWal(recovered)).toEqual(expected);
    expect(recovered.groups()).toEqual([1]);
    expect(recovered.storage(1).firstIndex()).toBe(5);
    await recovered.close();
  });

  it("survives a crash at any step of a segment roll", async () => {
    const options = { segmentBytesMax: 1024, recordBytesMax: 4096, groupsMax: 4 };
    const outcomes = new Set<number>();
    for (let operations = 0; operations < 12; operations++) {
      let fs = new MemoryWalFs({ lossy: true });
      const wal = await NodeWal.open(DIR, { ...options, fs });
      for (let i = 0; i < 10; i++) await wal.append([{ group: 1, entries: makeEntries(i * 5 + 1, 5, 1, 30) }], true);
      const synced = viewWal(wal);
      const segments = wal.stats.segments;
      // This append does not fit in the active segment: the log rolls (sync the old one, create the next,
      // sync the directory, write its checkpoint and the records), and the power fails somewhere in between.
      fs.crashAfter(operations);
      const pending = wal.append([{ group: 1, entries: makeEntries(51, 20, 1, 30) }], true);
      const acknowledged = await pending.then(
        () => true,
        () => false,
      );
      fs = fs.crash();
      const recovered = await NodeWal.open(DIR, { ...options, fs });
      const view = viewWal(recovered);
      outcomes.add(view[0]!.lastIndex);
      if (acknowledged) expect(view[0]!.lastIndex).toBe(70);
      else if (view[0]!.lastIndex === 50) expect(view).toEqual(synced);
      else expect(view[0]!.lastIndex).toBe(70);
      expect(recovered.stats.segments).toBeGreaterThanOrEqual(segments);
      await recovered.close();
    }
    // Both outcomes occurred: the crash landed before and after the new segment was durable.
    expect([...outcomes].sort()).toEqual([50, 70]);
  });

  it("fails the calls caught by the crash instead of pretending they are durable", async () => {
    let fs = new MemoryWalFs({ lossy: true });
    const wal = await NodeWal.open(DIR, { fs });
    const pending = wal.append([{ group: 1, entries: makeEntries(1, 1, 1) }], true);
    fs = fs.crash();
    await expect(pending).rejects.toThrow(WalFailedError);
  });
});
