import { assert } from "../assert.js";
import type { WalFile, WalFs, WalReader } from "./wal-fs.js";

/** The operations of `WalFs`, for fault injection and counting. */
export type MemoryWalFsOperation =
  "mkdirs" | "list" | "readFile" | "openRead" | "readRange" | "openAppend" | "append" | "datasync" | "remove" | "rename" | "truncate" | "syncDir";

export interface MemoryWalFsOptions {
  /**
   * Lossy mode models power loss: written bytes stay in this process until
   * `datasync`, directory changes until `syncDir`, and `crash()` drops whatever
   * was not synced. Without it, `crash()` keeps everything, like kill -9 does
   * (the OS page cache survives a process kill, so it cannot expose a missing
   * fsync; this mode can).
   */
  readonly lossy?: boolean;
}

/** One file's bytes. The durable content is always a prefix: the log only appends, and `truncate` is durable. */
interface FileNode {
  bytes: Uint8Array;
  lengthBytes: number;
  syncedBytes: number;
}

/** What survives a crash, shared by the process that crashed and the one that restarts. */
interface Disk {
  readonly lossy: boolean;
  files: Map<string, FileNode>;
  /** The namespace as of the last `syncDir` of each directory (lossy mode). */
  durableFiles: Map<string, FileNode>;
  readonly dirs: Set<string>;
  /** Bumped by each crash: file systems and handles of earlier generations are dead. */
  generation: number;
  readonly operationCounts: Map<MemoryWalFsOperation, number>;
  readonly faults: Map<MemoryWalFsOperation, Error>;
  /** Operations left before an armed crash strikes (see `crashAfter`). */
  operationsBeforeCrash: number | undefined;
}

/**
 * An in-memory `WalFs` for tests and the simulator: a `NodeWal` over it is
 * the in-memory log. Directories are implicit and durable once created.
 *
 * `crash()` returns the file system of the restarted process; the crashed
 * one's (this object and every handle it opened) fails from then on, so a
 * call in flight at the crash cannot touch the disk afterwards.
 */
export class MemoryWalFs implements WalFs {
  private readonly disk: Disk;
  private readonly generation: number;

  constructor(options: MemoryWalFsOptions = {}, disk?: Disk) {
    this.disk = disk ?? {
      lossy: options.lossy ?? false,
      files: new Map(),
      durableFiles: new Map(),
      dirs: new Set(),
      generation: 0,
      operationCounts: new Map(),
      faults: new Map(),
      operationsBeforeCrash: undefined,
    };
    this.generation = this.disk.generation;
  }

  get lossy(): boolean {
    return this.disk.lossy;
  }

  /** How often each operation ran on this disk: tests count fsyncs with it. */
  get operationCounts(): ReadonlyMap<MemoryWalFsOperation, number> {
    return this.disk.operationCounts;
  }

  async mkdirs(dir: string): Promise<void> {
    this.enter("mkdirs");
    for (let path = trimSlash(dir); path !== ""; path = parentOf(path)) this.disk.dirs.add(path);
  }

  async list(dir: string): Promise<string[]> {
    this.enter("list");
    const parent = trimSlash(dir);
    if (!this.disk.dirs.has(parent)) throw fsError("ENOENT", `no such directory: ${dir}`);
    return [...this.disk.files.keys()].filter((path) => parentOf(path) === parent).map(baseName);
  }

  async readFile(path: string): Promise<Uint8Array> {
    this.enter("readFile");
    const node = this.node(path);
    return node.bytes.slice(0, node.lengthBytes);
  }

  async openRead(path: string): Promise<WalReader> {
    this.enter("openRead");
    // The reader keeps the file's bytes as they were when opened, as an open descriptor
    // keeps a removed file.
    const node = this.node(path);
    const bytes = node.bytes.slice(0, node.lengthBytes);
    return {
      read: async (offset, length) => {
        this.enter("readRange");
        return bytes.slice(Math.min(offset, bytes.length), Math.min(offset + length, bytes.length));
      },
      close: async () => undefined,
    };
  }

  async openAppend(path: string): Promise<WalFile> {
    this.enter("openAppend");
    if (!this.disk.dirs.has(parentOf(path))) throw fsError("ENOENT", `no such directory for ${path}`);
    let node = this.disk.files.get(path);
    if (node === undefined) {
      node = { bytes: new Uint8Array(256), lengthBytes: 0, syncedBytes: 0 };
      this.disk.files.set(path, node);
      if (!this.lossy) this.disk.durableFiles.set(path, node);
    }
    return new MemoryWalFile(this, node);
  }

  async remove(path: string): Promise<void> {
    this.enter("remove");
    this.node(path);
    this.disk.files.delete(path);
    if (!this.lossy) this.disk.durableFiles.delete(path);
  }

  async rename(from: string, to: string): Promise<void> {
    this.enter("rename");
    const node = this.node(from);
    this.disk.files.delete(from);
    this.disk.files.set(to, node);
    if (!this.lossy) this.disk.durableFiles = new Map(this.disk.files);
  }

  async truncate(path: string, lengthBytes: number): Promise<void> {
    this.enter("truncate");
    const node = this.node(path);
    assert(lengthBytes >= 0 && lengthBytes <= node.lengthBytes, "truncate may only shrink a file");
    node.lengthBytes = lengthBytes;
    node.syncedBytes = Math.min(node.syncedBytes, lengthBytes);
  }

  async syncDir(dir: string): Promise<void> {
    this.enter("syncDir");
    const parent = trimSlash(dir);
    const durable = this.disk.durableFiles;
    for (const path of [...durable.keys()]) if (parentOf(path) === parent) durable.delete(path);
    for (const [path, node] of this.disk.files) if (parentOf(path) === parent) durable.set(path, node);
  }

  /**
   * Simulates a crash and returns the file system of the restarted process.
   * This one and its handles die; in lossy mode every unsynced byte and
   * directory change is lost.
   */
  crash(): MemoryWalFs {
    crashDisk(this.disk);
    return new MemoryWalFs({}, this.disk);
  }

  /**
   * Arms a crash that strikes when `operations` more operations (appends,
   * syncs, ...) have run: the next one fails as the process dies. It lands the
   * crash at an exact step of a flush, which awaiting from outside cannot.
   * Call `crash()` afterwards to get the restarted process's file system.
   */
  crashAfter(operations: number): void {
    this.disk.operationsBeforeCrash = operations;
  }

  /** Makes the next call of `operation` fail with `error` (once). */
  failNext(operation: MemoryWalFsOperation, error: Error = fsError("EIO", `injected ${operation} failure`)): void {
    this.disk.faults.set(operation, error);
  }

  /** An independent copy of the current files (all durable in the copy): tests fork a log to damage it many ways. */
  clone(): MemoryWalFs {
    const copy = new MemoryWalFs({ lossy: this.lossy });
    for (const dir of this.disk.dirs) copy.disk.dirs.add(dir);
    for (const [path, node] of this.disk.files) {
      const bytes = node.bytes.slice(0, node.lengthBytes);
      const copied = { bytes, lengthBytes: bytes.byteLength, syncedBytes: bytes.byteLength };
      copy.disk.files.set(path, copied);
      copy.disk.durableFiles.set(path, copied);
    }
    return copy;
  }

  /** Paths of all files, sorted. */
  paths(): string[] {
    return [...this.disk.files.keys()].sort();
  }

  /** Replaces a file's content, durably: tests use it to tear or corrupt a segment. */
  overwrite(path: string, bytes: Uint8Array): void {
    const node = this.node(path);
    node.bytes = bytes.slice();
    node.lengthBytes = bytes.byteLength;
    node.syncedBytes = bytes.byteLength;
  }

  /** @internal Counts `operation`, fails it if this process crashed or a fault is armed. */
  enter(operation: MemoryWalFsOperation): void {
    const disk = this.disk;
    disk.operationCounts.set(operation, (disk.operationCounts.get(operation) ?? 0) + 1);
    if (disk.operationsBeforeCrash !== undefined && disk.operationsBeforeCrash-- === 0) crashDisk(disk);
    if (this.generation !== disk.generation) throw fsError("EBADF", `${operation} by a process that crashed`);
    const fault = disk.faults.get(operation);
    if (fault === undefined) return;
    disk.faults.delete(operation);
    throw fault;
  }

  private node(path: string): FileNode {
    const node = this.disk.files.get(path);
    if (node === undefined) throw fsError("ENOENT", `no such file: ${path}`);
    return node;
  }
}

class MemoryWalFile implements WalFile {
  private closed = false;

  constructor(
    private readonly fs: MemoryWalFs,
    private readonly node: FileNode,
  ) {}

  async append(data: Uint8Array): Promise<void> {
    this.check("append");
    const node = this.node;
    const needed = node.lengthBytes + data.byteLength;
    if (needed > node.bytes.byteLength) {
      const grown = new Uint8Array(Math.max(needed, node.bytes.byteLength * 2));
      grown.set(node.bytes.subarray(0, node.lengthBytes));
      node.bytes = grown;
    }
    node.bytes.set(data, node.lengthBytes);
    node.lengthBytes = needed;
    if (!this.fs.lossy) node.syncedBytes = needed;
  }

  async datasync(): Promise<void> {
    this.check("datasync");
    this.node.syncedBytes = this.node.lengthBytes;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private check(operation: MemoryWalFsOperation): void {
    if (this.closed) throw fsError("EBADF", "file handle is closed");
    this.fs.enter(operation);
  }
}

function crashDisk(disk: Disk): void {
  disk.generation += 1;
  disk.operationsBeforeCrash = undefined;
  if (!disk.lossy) return;
  disk.files = new Map(disk.durableFiles);
  for (const node of disk.files.values()) node.lengthBytes = node.syncedBytes;
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "" : path.slice(0, slash);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function fsError(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}
