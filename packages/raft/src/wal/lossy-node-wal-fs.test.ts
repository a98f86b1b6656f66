import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Entry } from "../entry.js";
import { asLogIndex, asTerm } from "../types.js";
import { LossyNodeWalFs } from "./lossy-node-wal-fs.js";
import { NodeWal } from "./node-wal.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "distcache-lossy-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const bytes = (text: string) => new TextEncoder().encode(text);
const noTear = { torn: false, random: () => 0.5 };

describe("LossyNodeWalFs", () => {
  it("keeps synced bytes and drops the rest on a crash", async () => {
    const fs = new LossyNodeWalFs();
    const path = join(dir, "segment");
    const file = await fs.openAppend(path);
    await fs.syncDir(dir);
    await file.append(bytes("synced|"));
    await file.datasync();
    await file.append(bytes("lost"));
    const report = fs.crash(noTear);
    expect(readFileSync(path, "utf8")).toBe("synced|");
    expect(report).toMatchObject({ bytesLost: 4, filesRemoved: 0, filesRestored: 0, torn: [] });
  });

  it("removes a file whose directory entry was never synced, and keeps files that existed before", async () => {
    writeFileSync(join(dir, "old"), "from before");
    const fs = new LossyNodeWalFs();
    const old = await fs.openAppend(join(dir, "old"));
    await old.append(bytes(" and after"));
    const fresh = await fs.openAppend(join(dir, "fresh"));
    await fresh.append(bytes("x"));
    await fresh.datasync();
    expect(fs.crash(noTear)).toMatchObject({ filesRemoved: 1, bytesLost: 10 });
    expect(existsSync(join(dir, "fresh"))).toBe(false);
    expect(readFileSync(join(dir, "old"), "utf8")).toBe("from before");
  });

  it("gives a renamed file its old name back when the rename's directory was not synced", async () => {
    const fs = new LossyNodeWalFs();
    const temporary = join(dir, "snap.tmp");
    const file = await fs.openAppend(temporary);
    await file.append(bytes("snapshot"));
    await file.datasync();
    await file.close();
    await fs.syncDir(dir);
    await fs.rename(temporary, join(dir, "snap"));
    expect(fs.crash(noTear)).toMatchObject({ filesRestored: 1, filesRemoved: 0 });
    expect(existsSync(join(dir, "snap"))).toBe(false);
    expect(readFileSync(temporary, "utf8")).toBe("snapshot");
  });

  it("keeps a rename once its directory is synced", async () => {
    const fs = new LossyNodeWalFs();
    const file = await fs.openAppend(join(dir, "a"));
    await file.append(bytes("x"));
    await file.datasync();
    await fs.syncDir(dir);
    await fs.rename(join(dir, "a"), join(dir, "b"));
    await fs.syncDir(dir);
    expect(fs.crash(noTear)).toMatchObject({ filesRestored: 0, filesRemoved: 0 });
    expect(readFileSync(join(dir, "b"), "utf8")).toBe("x");
  });

  it("brings back a file removed since its directory's last sync, and forgets one removed before a sync", async () => {
    writeFileSync(join(dir, "kept"), "old segment");
    writeFileSync(join(dir, "gone"), "older segment");
    const fs = new LossyNodeWalFs();
    await fs.remove(join(dir, "gone"));
    await fs.syncDir(dir);
    await fs.remove(join(dir, "kept"));
    expect(existsSync(join(dir, "kept"))).toBe(false);
    expect(fs.crash(noTear).filesRestored).toBe(1);
    expect(readFileSync(join(dir, "kept"), "utf8")).toBe("old segment");
    expect(existsSync(join(dir, "gone"))).toBe(false);
  });

  it("lets each file keep none, a prefix or all of its unsynced tail when torn", async () => {
    const fs = new LossyNodeWalFs();
    const paths = ["a", "b", "c"].map((name) => join(dir, name));
    for (const path of paths) {
      const file = await fs.openAppend(path);
      await file.append(bytes("head|"));
      await file.datasync();
      await file.append(bytes("0123456789"));
    }
    await fs.syncDir(dir);
    // Draws: a keeps none (0.1); b a prefix (0.6, then 0.35 of 10 bytes); c all (0.9).
    const draws = [0.1, 0.6, 0.35, 0.9];
    const report = fs.crash({ torn: true, random: () => draws.shift()! });
    expect(paths.map((path) => readFileSync(path, "utf8"))).toEqual(["head|", "head|012", "head|0123456789"]);
    expect(report).toMatchObject({ torn: [paths[1], paths[2]], bytesLost: 17 });
  });

  it("survives a crash that lands between a rename and its bookkeeping", async () => {
    const fs = new LossyNodeWalFs();
    const file = await fs.openAppend(join(dir, "a"));
    await file.append(bytes("x"));
    // The file was never created on disk under this name: the crash finds it missing and goes on.
    await fs.openAppend(join(dir, "never")).then((f) => f.close());
    rmSync(join(dir, "never"));
    expect(() => fs.crash(noTear)).not.toThrow();
  });

  it("makes a write-ahead log lose exactly its unsynced appends", async () => {
    const fs = new LossyNodeWalFs();
    const walDir = join(dir, "wal");
    const wal = await NodeWal.open(walDir, { fs });
    const entry = (index: number): Entry => ({ index: asLogIndex(index), term: asTerm(1), kind: "command", data: bytes(`e${index}`) });
    const group = wal.storage(1);
    expect(group).toBeDefined();
    await wal.append([{ group: 1, entries: [entry(1), entry(2)] }], true);
    await wal.append([{ group: 1, entries: [entry(3)] }], false);
    fs.crash(noTear);
    await wal.close().catch(() => undefined);
    const reopened = await NodeWal.open(walDir);
    try {
      expect(reopened.storage(1).lastIndex()).toBe(2);
    } finally {
      await reopened.close();
    }
  });
});
