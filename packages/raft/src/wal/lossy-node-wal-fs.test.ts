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
    expect(report).toMatchObject({ bytesLost: 4, filesRemoved: 0, torn: undefined });
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

  it("treats a rename as durable only once its directory is synced", async () => {
    const fs = new LossyNodeWalFs();
    const temporary = join(dir, "snap.tmp");
    const file = await fs.openAppend(temporary);
    await file.append(bytes("snapshot"));
    await file.datasync();
    await file.close();
    await fs.syncDir(dir);
    await fs.rename(temporary, join(dir, "snap"));
    expect(fs.crash(noTear).filesRemoved).toBe(1);
    expect(existsSync(join(dir, "snap"))).toBe(false);
  });

  it("tears one file's unsynced tail at a random byte when asked", async () => {
    const fs = new LossyNodeWalFs();
    const path = join(dir, "segment");
    const file = await fs.openAppend(path);
    await fs.syncDir(dir);
    await file.append(bytes("head|"));
    await file.datasync();
    await file.append(bytes("0123456789"));
    const report = fs.crash({ torn: true, random: () => 0.35 });
    expect(readFileSync(path, "utf8")).toBe("head|012");
    expect(report).toMatchObject({ torn: path, bytesLost: 7 });
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
