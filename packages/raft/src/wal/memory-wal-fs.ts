import { assert } from "../assert.js";
import type { WalFile, WalFs } from "./wal-fs.js";

/** The operations of `WalFs`, for fault injection and counting. */
export type MemoryWalFsOperation = "mkdirs" | "list" | "readFile" | "openAppend" | "append" | "datasync" | "remove" | "rename" | "truncate" | "syncDir";

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

/**
 * An in-memory `WalFs` for tests and the simulator: `new NodeWal` over it is
 * the in-memory log. Directories are implicit and durable once created.
 */
export class MemoryWalFs implements WalFs {
  readonly lossy: boolean;
  /** How often each operation ran: tests count fsyncs with it. */
  readonly operationCounts = new Map<MemoryWalFsOperation, number>();
  private files = new Map<string, FileNode>();
  /** The namespace as of the last `syncDir` of each directory (lossy mode). */
  private durableFiles = new Map<string, FileNode>();
  private readonly dirs = new Set<string>();
  private readonly faults = new Map<MemoryWalFsOperation, Error>();
  /** Bumped by `crash()`; handles opened before it fail, like a dead process's descriptors. */
  private generation = 0;

  constructor(options: MemoryWalFsOptions = {}) {
    this.lossy = options.lossy ?? false;
  }

  async mkdirs(dir: string): Promise<void> {
    this.enter("mkdirs");
    for (let path = trimSlash(dir); path !== ""; path = parentOf(path)) this.dirs.add(path);
  }

  async list(dir: string): Promise<string[]> {
    this.enter("list");
    const parent = trimSlash(dir);
    if (!this.dirs.has(parent)) throw fsError("ENOENT", `no such directory: ${dir}`);
    return [...this.files.keys()].filter((path) => parentOf(path) === parent).map(baseName);
  }

  async readFile(path: string): Promise<Uint8Array> {
    this.enter("readFile");
    const node = this.node(path);
    return node.bytes.slice(0, node.lengthBytes);
  }

  async openAppend(path: string): Promise<WalFile> {
    this.enter("openAppend");
    if (!this.dirs.has(parentOf(path))) throw fsError("ENOENT", `no such directory for ${path}`);
    let node = this.files.get(path);
    if (node === undefined) {
      node = { bytes: new Uint8Array(256), lengthBytes: 0, syncedBytes: 0 };
      this.files.set(path, node);
      if (!this.lossy) this.durableFiles.set(path, node);
    }
    return new MemoryWalFile(this, node, this.generation);
  }

  async remove(path: string): Promise<void> {
    this.enter("remove");
    this.node(path);
    this.files.delete(path);
    if (!this.lossy) this.durableFiles.delete(path);
  }

  async rename(from: string, to: string): Promise<void> {
    this.enter("rename");
    const node = this.node(from);
    this.files.delete(from);
    this.files.set(to, node);
    if (!this.lossy) this.durableFiles = new Map(this.files);
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
    for (const path of [...this.durableFiles.keys()]) if (parentOf(path) === parent) this.durableFiles.delete(path);
    for (const [path, node] of this.files) if (parentOf(path) === parent) this.durableFiles.set(path, node);
  }

  /**
   * Simulates a crash: open handles die and, in lossy mode, every unsynced
   * byte and directory change is lost.
   */
  crash(): void {
    this.generation += 1;
    if (!this.lossy) return;
    this.files = new Map(this.durableFiles);
    for (const node of this.files.values()) node.lengthBytes = node.syncedBytes;
  }

  /** Makes the next call of `operation` fail with `error` (once). */
  failNext(operation: MemoryWalFsOperation, error: Error = fsError("EIO", `injected ${operation} failure`)): void {
    this.faults.set(operation, error);
  }

  /** An independent copy of the current files (all durable in the copy): tests fork a log to damage it many ways. */
  clone(): MemoryWalFs {
    const copy = new MemoryWalFs({ lossy: this.lossy });
    for (const dir of this.dirs) copy.dirs.add(dir);
    for (const [path, node] of this.files) {
      const bytes = node.bytes.slice(0, node.lengthBytes);
      const copied = { bytes, lengthBytes: bytes.byteLength, syncedBytes: bytes.byteLength };
      copy.files.set(path, copied);
      copy.durableFiles.set(path, copied);
    }
    return copy;
  }

  /** Paths of all files, sorted. */
  paths(): string[] {
    return [...this.files.keys()].sort();
  }

  /** Replaces a file's content, durably: tests use it to tear or corrupt a segment. */
  overwrite(path: string, bytes: Uint8Array): void {
    const node = this.node(path);
    node.bytes = bytes.slice();
    node.lengthBytes = bytes.byteLength;
    node.syncedBytes = bytes.byteLength;
  }

  /** @internal Called by handles. */
  checkHandle(generation: number, operation: MemoryWalFsOperation): void {
    this.enter(operation);
    if (generation !== this.generation) throw fsError("EBADF", "file handle is from before a crash");
  }

  private enter(operation: MemoryWalFsOperation): void {
    this.operationCounts.set(operation, (this.operationCounts.get(operation) ?? 0) + 1);
    const fault = this.faults.get(operation);
    if (fault === undefined) return;
    this.faults.delete(operation);
    throw fault;
  }

  private node(path: string): FileNode {
    const node = this.files.get(path);
    if (node === undefined) throw fsError("ENOENT", `no such file: ${path}`);
    return node;
  }
}

class MemoryWalFile implements WalFile {
  private closed = false;

  constructor(
    private readonly fs: MemoryWalFs,
    private readonly node: FileNode,
    private readonly generation: number,
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
    this.fs.checkHandle(this.generation, operation);
  }
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
