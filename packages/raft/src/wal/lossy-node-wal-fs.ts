import { statSync, truncateSync, unlinkSync } from "node:fs";
import { NodeWalFs } from "./node-wal-fs.js";
import type { WalFile } from "./wal-fs.js";

/** What a crash keeps of one file. */
interface TrackedFile {
  lengthBytes: number;
  /** Bytes made durable by datasync (or present when the file was first opened). */
  syncedBytes: number;
  /** Whether the file's directory entry is durable (syncDir since it was created or renamed here). */
  entryDurable: boolean;
}

/** What crash() did, for the node's last log line. */
export interface CrashReport {
  files: number;
  /** Bytes written but never synced, dropped. */
  bytesLost: number;
  /** Files created or renamed since their directory's last sync, removed. */
  filesRemoved: number;
  /** The file whose unsynced tail was cut at a random byte instead of dropped whole, if any. */
  torn: string | undefined;
}

/**
 * The real file system, keeping track of what a power loss would keep (test-only, for
 * --testing-storage lossy): each file's synced length, and whether its directory entry is
 * durable, by the contract of WalFs. crash() then makes the disk look as a power loss
 * would leave it: every file cut to its synced length (one file's unsynced tail cut at a
 * random byte, a torn write, when asked), and files whose entry was never synced removed.
 * The process must exit right after, writing nothing more. A kill -9 keeps the OS page
 * cache, so only this shows a missing fsync on a real node. Removals are taken as durable
 * at once (a crash never brings a removed file back).
 */
export class LossyNodeWalFs extends NodeWalFs {
  private readonly files = new Map<string, TrackedFile>();

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
    await super.remove(path);
    this.files.delete(path);
  }

  override async rename(from: string, to: string): Promise<void> {
    await super.rename(from, to);
    const tracked = this.files.get(from);
    this.files.delete(from);
    if (tracked !== undefined) this.files.set(to, { ...tracked, entryDurable: false });
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
    const entries = [...this.files].filter(([path]) => parentOf(path) === dir.replace(/\/+$/, "")).map(([, tracked]) => tracked);
    await super.syncDir(dir);
    for (const tracked of entries) tracked.entryDurable = true;
  }

  /**
   * Cuts every file to what a power loss would keep, synchronously. With `torn`, the
   * unsynced tail of one file that has one is cut at a random byte rather than dropped.
   */
  crash(options: { torn: boolean; random: () => number }): CrashReport {
    const report: CrashReport = { files: this.files.size, bytesLost: 0, filesRemoved: 0, torn: undefined };
    const withTail = [...this.files].filter(([, f]) => f.entryDurable && f.lengthBytes > f.syncedBytes).map(([path]) => path);
    const tornPath = options.torn && withTail.length > 0 ? withTail[Math.floor(options.random() * withTail.length)] : undefined;
    for (const [path, tracked] of this.files) {
      if (!tracked.entryDurable) {
        unlinkSync(path);
        report.filesRemoved++;
        continue;
      }
      const tailBytes = tracked.lengthBytes - tracked.syncedBytes;
      if (tailBytes <= 0) continue;
      const keptBytes = path === tornPath ? Math.floor(options.random() * tailBytes) : 0;
      truncateSync(path, tracked.syncedBytes + keptBytes);
      report.bytesLost += tailBytes - keptBytes;
      if (path === tornPath) report.torn = path;
    }
    return report;
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
