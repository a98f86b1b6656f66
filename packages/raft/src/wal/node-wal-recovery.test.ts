import { describe, expect, it } from "vitest";
import type { HardState } from "../hard-state.js";
import type { LogIndex, NodeId, Term } from "../types.js";
import { MemoryWalFs } from "./memory-wal-fs.js";
import { NodeWal } from "./node-wal.js";
import { segmentName } from "./segment-name.js";
import { recordOffsets, recordStartOf } from "./testing/segment-layout.js";
import { makeEntries, viewWal } from "./testing/wal-model.js";
import { WalCorruptionError } from "./wal-errors.js";
import type { WalOptions } from "./wal-options.js";

const DIR = "/data/wal";
const OPTIONS: WalOptions = { segmentBytesMax: 1024, recordBytesMax: 4096, groupsMax: 4 };
const hs = (term: number, vote: string | undefined, commit: number): HardState => ({
  term: term as Term,
  vote: vote as NodeId | undefined,
  commit: commit as LogIndex,
});

/** Writes a log over several segments; returns it still open, so its last segment is the one being appended to. */
async function writeLog(fs: MemoryWalFs): Promise<NodeWal> {
  const wal = await NodeWal.open(DIR, { ...OPTIONS, fs });
  for (let i = 0; i < 12; i++) {
    const first = i * 4 + 1;
    await wal.append(
      [
        { group: 1, entries: makeEntries(first, 4, 1 + (i >> 2), 40), hardState: hs(1 + (i >> 2), "n1", first) },
        { group: 2, entries: makeEntries(first, 4, 2, 24) },
      ],
      i % 3 === 0,
    );
  }
  return wal;
}

function lastSegmentPath(fs: MemoryWalFs): string {
  return fs.paths().at(-1)!;
}

async function bytesOf(fs: MemoryWalFs, path: string): Promise<Uint8Array> {
  return fs.readFile(path);
}

describe("recovery of a torn tail", () => {
  it("drops the last record, whatever byte the write stopped at, and keeps everything before it", async () => {
    const fs = new MemoryWalFs();
    const wal = await writeLog(fs);
    const before = viewWal(wal);
    // The last record: one entries record of a single group.
    await wal.append([{ group: 3, entries: makeEntries(1, 3, 7, 30) }], true);
    const after = viewWal(wal);
    const path = lastSegmentPath(fs);
    const full = await bytesOf(fs, path);
    const startBytes = recordOffsets(full).at(-1)!;
    expect(startBytes).toBeGreaterThan(0);

    for (let cut = startBytes; cut <= full.byteLength; cut++) {
      const torn = fs.clone();
      torn.overwrite(path, full.subarray(0, cut));
      const recovered = await NodeWal.open(DIR, { ...OPTIONS, fs: torn });
      expect(viewWal(recovered), `cut at byte ${cut}`).toEqual(cut === full.byteLength ? after : before);
      // The torn bytes are gone for good: appending and reopening again still works.
      await recovered.append([{ group: 2, entries: makeEntries(49, 1, 2) }], true);
      await recovered.close();
      const again = await NodeWal.open(DIR, { ...OPTIONS, fs: torn });
      expect(again.storage(2).lastIndex()).toBe(49);
      await again.close();
    }
  });

  it("treats a zero-filled tail of the last segment as torn", async () => {
    const fs = new MemoryWalFs();
    const wal = await writeLog(fs);
    const before = viewWal(wal);
    const path = lastSegmentPath(fs);
    const bytes = await bytesOf(fs, path);
    const padded = new Uint8Array(bytes.byteLength + 4096);
    padded.set(bytes);
    fs.overwrite(path, padded);
    const recovered = await NodeWal.open(DIR, { ...OPTIONS, fs });
    expect(viewWal(recovered)).toEqual(before);
    await recovered.close();
  });

  it("deletes a last segment whose checkpoint never made it", async () => {
    const fs = new MemoryWalFs();
    const wal = await writeLog(fs);
    const before = viewWal(wal);
    const seqs = fs.paths().length;
    const next = `${DIR}/${segmentName(Number(/(\d{16})/.exec(lastSegmentPath(fs))![1]) + 1)}`;
    fs.overwrite(lastSegmentPath(fs), await bytesOf(fs, lastSegmentPath(fs)));
    const file = await fs.openAppend(next);
    await file.append(new Uint8Array([9, 0, 0]));
    const recovered = await NodeWal.open(DIR, { ...OPTIONS, fs });
    expect(viewWal(recovered)).toEqual(before);
    // The stub is gone and a fresh active segment took its number.
    expect(fs.paths()).toHaveLength(seqs + 1);
    await recovered.close();
  });
});

describe("recovery refuses corruption", () => {
  it("names the segment and the offset of the damaged record, for every byte but the last record's", async () => {
    const fs = new MemoryWalFs();
    const wal = await writeLog(fs);
    await wal.close();
    const paths = fs.paths();
    expect(paths.length).toBeGreaterThan(3);
    let checked = 0;
    for (const path of paths) {
      const bytes = await bytesOf(fs, path);
      const isLast = path === paths.at(-1);
      const end = isLast ? recordOffsets(bytes).at(-1)! : bytes.byteLength;
      for (let at = 0; at < end; at++) {
        const damaged = fs.clone();
        const flipped = bytes.slice();
        flipped[at] = flipped[at]! ^ 0x5a;
        damaged.overwrite(path, flipped);
        const error = await NodeWal.open(DIR, { ...OPTIONS, fs: damaged }).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error, `flip at ${path}:${at}`).toBeInstanceOf(WalCorruptionError);
        const corruption = error as WalCorruptionError;
        expect(corruption.segment).toBe(path);
        expect(corruption.offset).toBe(recordStartOf(bytes, at));
        expect(corruption.message).toContain(`${path} at byte offset ${corruption.offset}`);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(4000);
  });

  it("refuses a missing segment in the middle", async () => {
    const fs = new MemoryWalFs();
    const wal = await writeLog(fs);
    await wal.close();
    const paths = fs.paths();
    await fs.remove(paths[1]!);
    await expect(NodeWal.open(DIR, { ...OPTIONS, fs })).rejects.toThrow(/wal-0000000000000002\.log is missing/);
  });

  it("refuses a segment renamed into another's place", async () => {
    const fs = new MemoryWalFs();
    const wal = await writeLog(fs);
    await wal.close();
    const paths = fs.paths();
    fs.overwrite(paths[2]!, await bytesOf(fs, paths[1]!));
    await expect(NodeWal.open(DIR, { ...OPTIONS, fs })).rejects.toThrow(/checkpoint names segment 2, but the file is segment 3/);
  });

  it("refuses a segment that is not a log at all", async () => {
    const fs = new MemoryWalFs();
    await fs.mkdirs(DIR);
    const file = await fs.openAppend(`${DIR}/${segmentName(1)}`);
    await file.append(new TextEncoder().encode("this is not a write-ahead log, but a note someone left here\n"));
    await (await fs.openAppend(`${DIR}/${segmentName(2)}`)).append(new Uint8Array(0));
    await expect(NodeWal.open(DIR, { ...OPTIONS, fs })).rejects.toThrow(WalCorruptionError);
  });

  it("ignores files that are not segments", async () => {
    const fs = new MemoryWalFs();
    const wal = await writeLog(fs);
    const before = viewWal(wal);
    await wal.close();
    await (await fs.openAppend(`${DIR}/notes.txt`)).append(new Uint8Array([1, 2, 3]));
    await (await fs.openAppend(`${DIR}/wal-12.log`)).append(new Uint8Array([1, 2, 3]));
    const recovered = await NodeWal.open(DIR, { ...OPTIONS, fs });
    expect(viewWal(recovered)).toEqual(before);
    await recovered.close();
  });
});
