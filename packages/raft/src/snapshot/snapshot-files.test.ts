import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MemoryWalFs } from "../wal/memory-wal-fs.js";
import { NodeWalFs } from "../wal/node-wal-fs.js";
import { SnapshotCorruptionError, SnapshotFiles } from "./snapshot-files.js";

const chunks = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(1000).fill(7)];

async function streamed(files: SnapshotFiles, meta: { group: number; index: number; term: number }): Promise<number[][]> {
  const out: number[][] = [];
  for await (const chunk of files.chunks(meta)) out.push([...chunk]);
  return out;
}

describe("SnapshotFiles", () => {
  it("streams a snapshot's chunks one at a time, the same as read(), on both file systems", async () => {
    const dir = mkdtempSync(join(tmpdir(), "distcache-snap-"));
    try {
      for (const files of [new SnapshotFiles("/snap", new MemoryWalFs()), new SnapshotFiles(dir, new NodeWalFs())]) {
        await files.write({ group: 2, index: 9, term: 3 }, chunks);
        await files.write({ group: 2, index: 11, term: 3 }, []);
        expect(await streamed(files, { group: 2, index: 9, term: 3 })).toEqual(chunks.map((c) => [...c]));
        expect(await streamed(files, { group: 2, index: 11, term: 3 })).toEqual([]);
        await expect(streamed(files, { group: 2, index: 12, term: 3 })).rejects.toMatchObject({ code: "ENOENT" });
        // A stream that began goes on when a newer snapshot prunes its file meanwhile.
        const stream = files.chunks({ group: 2, index: 9, term: 3 });
        const first = await stream.next();
        await files.write({ group: 2, index: 30, term: 3 }, [new Uint8Array([9])]);
        await files.prune(2);
        expect((await files.list(2)).map((f) => f.index)).toEqual([30]);
        const rest: number[][] = [];
        for await (const chunk of { [Symbol.asyncIterator]: () => stream }) rest.push([...chunk]);
        expect([[...first.value!], ...rest]).toEqual(chunks.map((c) => [...c]));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("writes, lists newest first, reads back and prunes", async () => {
    const files = new SnapshotFiles("/snap", new MemoryWalFs());
    await files.write({ group: 3, index: 10, term: 2 }, chunks);
    await files.write({ group: 3, index: 25, term: 4 }, chunks.slice(0, 1));
    await files.write({ group: 4, index: 7, term: 1 }, []);
    expect(await files.list(3)).toEqual([
      { group: 3, index: 25, term: 4 },
      { group: 3, index: 10, term: 2 },
    ]);
    expect((await files.read({ group: 3, index: 10, term: 2 })).map((c) => [...c])).toEqual(chunks.map((c) => [...c]));
    expect(await files.read({ group: 4, index: 7, term: 1 })).toEqual([]);
    await files.prune(3);
    expect(await files.list(3)).toEqual([{ group: 3, index: 25, term: 4 }]);
  });

  it("refuses a damaged snapshot at every byte", async () => {
    const fs = new MemoryWalFs();
    const files = new SnapshotFiles("/snap", fs);
    const meta = { group: 1, index: 5, term: 1 };
    await files.write(meta, chunks);
    const path = "/snap/snap-1-0000000000000005-1.snap";
    const good = await fs.readFile(path);
    for (let i = 0; i < good.length; i += 7) {
      const bad = new Uint8Array(good);
      bad[i] = bad[i]! ^ 0x5a;
      await fs.remove(path);
      const f = await fs.openAppend(path);
      await f.append(bad);
      await f.datasync();
      await f.close();
      await expect(files.read(meta)).rejects.toBeInstanceOf(SnapshotCorruptionError);
      await expect(streamed(files, meta)).rejects.toBeInstanceOf(SnapshotCorruptionError);
    }
  });

  it("a crash at any step of a write leaves the old snapshot or the new one, whole", async () => {
    for (let step = 0; step < 12; step++) {
      const fs = new MemoryWalFs({ lossy: true });
      const files = new SnapshotFiles("/snap", fs);
      await files.write({ group: 1, index: 5, term: 1 }, chunks);
      fs.crashAfter(step);
      await files.write({ group: 1, index: 9, term: 1 }, chunks).catch(() => undefined);
      const restarted = new SnapshotFiles("/snap", fs.crash());
      const found = await restarted.list(1);
      expect(found.length, `step ${step}`).toBeGreaterThan(0);
      // Whatever is listed reads back whole.
      for (const meta of found) expect((await restarted.read(meta)).length).toBe(chunks.length);
    }
  });
});
