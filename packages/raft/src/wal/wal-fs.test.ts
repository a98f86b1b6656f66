import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryWalFs } from "./memory-wal-fs.js";
import { NodeWal } from "./node-wal.js";
import { NodeWalFs } from "./node-wal-fs.js";
import { makeEntries, viewWal } from "./testing/wal-model.js";
import type { WalFs } from "./wal-fs.js";

let realRoot = "";
beforeAll(async () => {
  realRoot = await mkdtemp(join(tmpdir(), "distcache-wal-fs-"));
});
afterAll(async () => {
  await rm(realRoot, { recursive: true, force: true });
});

let dirCount = 0;
const implementations: Array<[string, () => { fs: WalFs; dir: string }]> = [
  ["MemoryWalFs", () => ({ fs: new MemoryWalFs(), dir: `/mem/${++dirCount}` })],
  ["MemoryWalFs (lossy)", () => ({ fs: new MemoryWalFs({ lossy: true }), dir: `/mem/${++dirCount}` })],
  ["NodeWalFs", () => ({ fs: new NodeWalFs(), dir: join(realRoot, String(++dirCount)) })],
];

describe.each(implementations)("WalFs contract: %s", (_name, make) => {
  it("creates, appends, reads, lists, renames, truncates and removes", async () => {
    const { fs, dir } = make();
    await fs.mkdirs(dir);
    await fs.mkdirs(dir);
    expect(await fs.list(dir)).toEqual([]);
    const file = await fs.openAppend(`${dir}/a.log`);
    await file.append(new Uint8Array([1, 2, 3]));
    await file.append(new Uint8Array([4, 5]));
    await file.datasync();
    await file.close();
    expect([...(await fs.readFile(`${dir}/a.log`))]).toEqual([1, 2, 3, 4, 5]);
    const again = await fs.openAppend(`${dir}/a.log`);
    await again.append(new Uint8Array([6]));
    await again.close();
    expect([...(await fs.readFile(`${dir}/a.log`))]).toEqual([1, 2, 3, 4, 5, 6]);
    await fs.truncate(`${dir}/a.log`, 2);
    expect([...(await fs.readFile(`${dir}/a.log`))]).toEqual([1, 2]);
    await fs.rename(`${dir}/a.log`, `${dir}/b.log`);
    await fs.syncDir(dir);
    expect(await fs.list(dir)).toEqual(["b.log"]);
    await fs.remove(`${dir}/b.log`);
    expect(await fs.list(dir)).toEqual([]);
  });

  it("fails on missing files", async () => {
    const { fs, dir } = make();
    await fs.mkdirs(dir);
    await expect(fs.readFile(`${dir}/missing`)).rejects.toThrow(/ENOENT/);
    await expect(fs.remove(`${dir}/missing`)).rejects.toThrow(/ENOENT/);
    await expect(fs.list(`${dir}/missing`)).rejects.toThrow(/ENOENT/);
  });

  it("hosts a NodeWal that recovers after close and after a torn tail", async () => {
    const { fs, dir } = make();
    const wal = await NodeWal.open(dir, { fs, segmentBytesMax: 4096, recordBytesMax: 8192, groupsMax: 8 });
    for (let i = 0; i < 40; i++) {
      await wal.append(
        [1, 2, 3].map((group) => ({ group, entries: makeEntries(i * 3 + 1, 3, 1, 50) })),
        i % 2 === 0,
      );
    }
    const expected = viewWal(wal);
    await wal.close();
    const names = (await fs.list(dir)).sort();
    expect(names.length).toBeGreaterThan(3);
    // Tear the last segment: a record header cut short after 6 of its 12 bytes.
    const last = await fs.openAppend(`${dir}/${names.at(-1)!}`);
    await last.append(new Uint8Array([40, 0, 0, 0, 1, 2]));
    await last.close();
    const reopened = await NodeWal.open(dir, { fs, segmentBytesMax: 4096, recordBytesMax: 8192, groupsMax: 8 });
    expect(viewWal(reopened)).toEqual(expected);
    await reopened.close();
  });
});

describe("MemoryWalFs lossy mode", () => {
  it("drops unsynced bytes and unsynced directory changes on crash", async () => {
    let fs = new MemoryWalFs({ lossy: true });
    await fs.mkdirs("/d");
    const synced = await fs.openAppend("/d/synced");
    await fs.syncDir("/d");
    await synced.append(new Uint8Array([1, 2]));
    await synced.datasync();
    await synced.append(new Uint8Array([3]));
    const unlisted = await fs.openAppend("/d/unlisted");
    await unlisted.append(new Uint8Array([9]));
    await unlisted.datasync();
    fs = fs.crash();
    expect(fs.paths()).toEqual(["/d/synced"]);
    expect([...(await fs.readFile("/d/synced"))]).toEqual([1, 2]);
    await expect(synced.append(new Uint8Array([4]))).rejects.toThrow(/EBADF/);
  });

  it("brings back a file whose removal was not synced", async () => {
    let fs = new MemoryWalFs({ lossy: true });
    await fs.mkdirs("/d");
    const file = await fs.openAppend("/d/f");
    await file.append(new Uint8Array([7]));
    await file.datasync();
    await fs.syncDir("/d");
    await fs.remove("/d/f");
    fs = fs.crash();
    expect([...(await fs.readFile("/d/f"))]).toEqual([7]);
  });

  it("injects a one-shot fault", async () => {
    const fs = new MemoryWalFs();
    await fs.mkdirs("/d");
    fs.failNext("openAppend");
    await expect(fs.openAppend("/d/f")).rejects.toThrow(/EIO/);
    await expect(fs.openAppend("/d/f")).resolves.toBeDefined();
  });
});
