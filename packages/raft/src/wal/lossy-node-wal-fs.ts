import { existsSync, mkdirSync, renameSync, rmSync, statSync, truncateSync, unlinkSync } from "node:fs";
import { basename, dirname } from "node:path";
import { NodeWalFs } from "./node-wal-fs.js";
import type { WalFile } from "./wal-fs.js";

/** What a crash keeps of one file. */
interface TrackedFile {
  lengthBytes: number;
  /** Bytes made durable by datasync (or present when the file was first opened). */
  syncedBytes: number;
  /** Whether the file's directory entry is durable (syncDir since it was created or renamed here). */
  entryDurable: boolean;
  /** The name it had before a rename whose directory was not synced since: a crash gives it back. */
  renamedFrom?: string;
}

/** A file removed since its directory's last sync: kept aside, and put back by a crash. */
interface RemovedFile {
  keptAt: string;
  tracked: TrackedFile | undefined;
}

/** What crash() did, for the node's last log line. */
export interface CrashReport {
  files: number;
  /** Bytes written but never synced, dropped. */
  bytesLost: number;
  /** Files created since their directory's last sync, removed. */
  filesRemoved: number;
  /** Files removed or renamed since their directory's last sync, given back their old name. */
  filesRestored: number;
  /** Files that kept part or all of their unsynced tail (a torn or completed write). */
  torn: string[];
}

/**
 * The real file system, keeping track of what a power loss would keep (test-only, for
 * --testing-storage lossy): each file's synced length, and whether its directory entry is
 * durable, by the contract of WalFs. crash() then makes the disk look as a power loss
 * would leave it: every file cut to its synced length (or, when torn, each file keeping
 * none, a random prefix or all of its unsynced tail, independently), files created since
 * their directory's last sync removed, and files removed or renamed since then given
 * back their old name (a removed file is kept aside until its directory is synced). The
 * process must exit right after, writing nothing more. A kill -9 keeps the OS page cache,
 * so only this shows a missing fsync on a real node.
 */
export class LossyNodeWalFs extends NodeWalFs {
  private readonly files = new Map<string, TrackedFile>();
  private readonly removed = new Map<string, RemovedFile>();
  private removedSerial = 0;

  override async openAppend(path: string): Promise<WalFile> {
    let tracked = this.files.get(path);
    if (tracked === undefined) {
      // A file that exists already survived whatever came before: all of it is durable.
      const lengthBytes = existingLength(path);
      tracked = { lengthBytes: lengthBytes ?? 0, syncedBytes: lengthBytes ?? 0, entryDurable: lengthBytes !== undefined };
      this.files.set(path, tracked);
    }
    const file = await super.openAppend(path);
    const entry = tracked;
    return {
      append: async (data) => {
        await file.append(data);
        entry.lengthBytes += data.byteLength;
      },
      datasync: async () => {
        const lengthBytes = entry.lengthBytes;
        await file.datasync();
        entry.syncedBytes = Math.max(entry.syncedBytes, lengthBytes);
      },
      close: () => file.close(),
    };
  }

  override async remove(path: string): Promise<void> {
    // Kept aside rather than deleted until the directory is synced; recorded before the
    // rename, so a crash in between finds the file under one of the two names.
    const keptAt = `${dirname(path)}.lossy-removed/${basename(path)}.${++this.removedSerial}`;
    mkdirSync(dirname(keptAt), { recursive: true });
    this.removed.set(path, { keptAt, tracked: this.files.get(path) });
    await super.rename(path, keptAt);
    this.files.delete(path);
  }

  override async rename(from: string, to: string): Promise<void> {
    const tracked = this.files.get(from);
    // Both names are tracked while the rename runs; a crash then puts the file back at `from`.
    this.files.set(to, { ...(tracked ?? { lengthBytes: 0, syncedBytes: 0 }), entryDurable: false, renamedFrom: from });
    await super.rename(from, to);
    this.files.delete(from);
  }

  override async truncate(path: string, lengthBytes: number): Promise<void> {
    await super.truncate(path, lengthBytes);
    const tracked = this.files.get(path);
    if (tracked !== undefined) {
      tracked.lengthBytes = lengthBytes;
      tracked.syncedBytes = Math.min(tracked.syncedBytes, lengthBytes);
    }
  }

  override async syncDir(dir: string): Promise<void> {
    const parent = dir.replace(/\/+$/, "");
    const entries = [...this.files].filter(([path]) => parentOf(path) === parent).map(([, tracked]) => tracked);
    const removals = [...this.removed].filter(([path]) => parentOf(path) === parent);
    await super.syncDir(dir);
    for (const tracked of entries) {
      tracked.entryDurable = true;
      delete tracked.renamedFrom;
    }
    for (const [path, { keptAt }] of removals) {
      this.removed.delete(path);
      rmSync(keptAt, { force: true });
    }
  }

  /**
   * Makes the files look as a power loss would leave them, synchronously. Without `torn`,
   * every unsynced byte is lost; with it, each file keeps none (half the time), a random
   * prefix or all of its unsynced tail.
   */
  crash(options: { torn: boolean; random: () => number }): CrashReport {
    const report: CrashReport = { files: this.files.size, bytesLost: 0, filesRemoved: 0, filesRestored: 0, torn: [] };
    for (const [path, tracked] of this.files) {
      let at = path;
      if (!tracked.entryDurable) {
        if (tracked.renamedFrom === undefined) {
          if (ignoreMissing(() => unlinkSync(path))) report.filesRemoved++;
          continue;
        }
        if (ignoreMissing(() => renameSync(path, tracked.renamedFrom!))) report.filesRestored++;
        at = tracked.renamedFrom;
      }
      const tailBytes = tracked.lengthBytes - tracked.syncedBytes;
      if (tailBytes <= 0) continue;
      const keptBytes = options.torn ? keptTail(tailBytes, options.random) : 0;
      if (keptBytes > 0) report.torn.push(at);
      if (ignoreMissing(() => truncateSync(at, tracked.syncedBytes + keptBytes))) report.bytesLost += tailBytes - keptBytes;
    }
    for (const [path, { keptAt, tracked }] of this.removed) {
      if (!existsSync(keptAt)) continue;
      renameSync(keptAt, path);
      if (tracked !== undefined) truncateSync(path, tracked.syncedBytes);
      report.filesRestored++;
    }
    return report;
  }
}

/** How much of an unsynced tail a torn crash keeps: none half the time, else a random prefix or all of it. */
function keptTail(tailBytes: number, random: () => number): number {
  const draw = random();
  if (draw < 0.5) return 0;
  if (draw < 0.75) return Math.floor(random() * tailBytes);
  return tailBytes;
}

/** Runs an action on a file that may be gone (a crash can land between a rename and its bookkeeping); false if it was. */
function ignoreMissing(action: () => void): boolean {
  try {
    action();
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

/** The size of the file at path, or undefined if there is none. */
function existingLength(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}
