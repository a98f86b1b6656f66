import { describe, expect, it } from "vitest";
import type { LogIndex, Term } from "../types.js";
import { MemoryWalFs } from "./memory-wal-fs.js";
import { NodeWal } from "./node-wal.js";
import { segmentName } from "./segment-name.js";
import { makeEntries, viewWal } from "./testing/wal-model.js";
import type { WalOptions } from "./wal-options.js";

const DIR = "/wal";
const OPTIONS: WalOptions = { segmentBytesMax: 1024, recordBytesMax: 4096, groupsMax: 4 };
const path = (seq: number): string => `${DIR}/${segmentName(seq)}`;

/** Appends `rounds` batches of 4 entries to each group; returns the last index. */
async function fill(wal: NodeWal, groups: readonly number[], rounds: number): Promise<number> {
  const start = wal.storage(groups[0]!).lastIndex();
  for (let round = 0; round < rounds; round++) {
    const first = start + round * 4 + 1;
    await wal.append(
      groups.map((group) => ({ group, entries: makeEntries(first, 4, 1, 20) })),
      true,
    );
  }
  return start + rounds * 4;
}

async function compactAll(wal: NodeWal, groups: readonly number[], index: number): Promise<void> {
  for (const group of groups) await wal.compact(group, index as LogIndex, 1 as Term);
}

describe("segment release", () => {
  it("deletes segments once every group compacted past them, never the active one", async () => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { ...OPTIONS, fs });
    const last = await fill(wal, [1, 2, 3], 20);
    const segments = wal.stats.segments;
    expect(segments).toBeGreaterThan(4);
    await compactAll(wal, [1, 2, 3], last);
    expect(fs.paths()).toEqual([path(segments)]);
    expect(wal.stats.segments).toBe(1);
    expect(wal.stats.segmentsDeleted).toBe(segments - 1);
    const expected = viewWal(wal);
    await wal.close();
    const reopened = await NodeWal.open(DIR, { ...OPTIONS, fs });
    expect(viewWal(reopened)).toEqual(expected);
    expect(reopened.storage(2).firstIndex()).toBe(last + 1);
    await reopened.close();
  });

  it("keeps every segment a lagging group still needs, then releases them when it catches up", async () => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { ...OPTIONS, fs });
    const half = await fill(wal, [1, 2, 3], 10);
    const last = await fill(wal, [1, 2, 3], 10);
    await compactAll(wal, [1, 2], last);
    // Group 3 has not compacted: its entries sit in segment 1, which pins it (and every later one).
    expect(fs.paths()[0]).toBe(path(1));
    expect(wal.stats.segmentsDeleted).toBe(0);
    await wal.compact(3, half as LogIndex, 1 as Term);
    const afterHalf = fs.paths().length;
    expect(wal.stats.segmentsDeleted).toBeGreaterThan(0);
    expect(fs.paths()[0]).not.toBe(path(1));
    await wal.compact(3, last as LogIndex, 1 as Term);
    expect(fs.paths().length).toBeLessThan(afterHalf);
    expect(fs.paths()).toHaveLength(1);
    await wal.close();
  });

  it("stops a dropped group from pinning segments", async () => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { ...OPTIONS, fs });
    const last = await fill(wal, [1, 2], 15);
    await wal.compact(1, last as LogIndex, 1 as Term);
    expect(wal.stats.segmentsDeleted).toBe(0);
    await wal.dropGroup(2);
    expect(fs.paths()).toHaveLength(1);
    await wal.close();
    const reopened = await NodeWal.open(DIR, { ...OPTIONS, fs });
    expect(reopened.groups()).toEqual([1]);
    await reopened.close();
  });

  it("recovers entries whose predecessors were in released segments", async () => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { ...OPTIONS, fs });
    // Segment 1 holds entries 1..4 of group 1; the next batch rolls to segment 2 and appends 5..8
    // after a checkpoint that still says "no snapshot". Compacting past 8 frees segment 1; replay then
    // meets entries 5..8 with 1..4 gone, which the compaction record that follows covers.
    await wal.append([{ group: 1, entries: makeEntries(1, 4, 1, 150) }], true);
    await wal.append(
      [
        { group: 1, entries: makeEntries(5, 4, 1, 150) },
        { group: 2, entries: makeEntries(1, 2, 1, 10) },
      ],
      true,
    );
    expect(wal.stats.segments).toBe(2);
    await wal.compact(1, 10 as LogIndex, 3 as Term);
    expect(fs.paths()).toEqual([path(2)]);
    await wal.append([{ group: 1, entries: makeEntries(11, 2, 3) }], true);
    const expected = viewWal(wal);
    await wal.close();
    const reopened = await NodeWal.open(DIR, { ...OPTIONS, fs });
    expect(viewWal(reopened)).toEqual(expected);
    await reopened.close();
  });

  it("recovers when released segments come back after a crash (their deletion was not yet durable)", async () => {
    let fs = new MemoryWalFs({ lossy: true });
    const wal = await NodeWal.open(DIR, { ...OPTIONS, fs });
    const last = await fill(wal, [1, 2], 15);
    await compactAll(wal, [1, 2], last - 4);
    const expected = viewWal(wal);
    const kept = fs.paths();
    fs = fs.crash();
    expect(fs.paths().length).toBeGreaterThan(kept.length);
    const recovered = await NodeWal.open(DIR, { ...OPTIONS, fs });
    expect(viewWal(recovered)).toEqual(expected);
    // Recovery releases them again.
    expect(fs.paths().length).toBeLessThanOrEqual(kept.length + 1);
    await recovered.close();
  });

  it("keeps segment count bounded under steady traffic with regular compaction", async () => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { ...OPTIONS, fs });
    let peak = 0;
    for (let round = 0; round < 30; round++) {
      const last = await fill(wal, [1, 2, 3], 5);
      await compactAll(wal, [1, 2, 3], last - 8);
      peak = Math.max(peak, fs.paths().length);
    }
    expect(wal.stats.segmentsDeleted).toBeGreaterThan(20);
    expect(peak).toBeLessThanOrEqual(4);
    await wal.close();
  });
});
