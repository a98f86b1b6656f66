/**
 * The file-system port of the write-ahead log: the few operations it needs,
 * asynchronous so a real implementation never blocks the event loop. Paths
 * are plain strings joined with "/"; the log never walks outside its
 * directory.
 *
 * Durability contract (what `MemoryWalFs` models in lossy mode):
 * - bytes appended to a file are durable only after `datasync` on that file;
 * - a file's existence (creation, deletion, rename) is durable only after
 *   `syncDir` on its directory;
 * - `truncate` is durable when it resolves.
 */
export interface WalFs {
  /** Creates the directory and its parents if absent. */
  mkdirs(dir: string): Promise<void>;
  /** Names (not paths) of the entries of `dir`, in no particular order. */
  list(dir: string): Promise<string[]>;
  readFile(path: string): Promise<Uint8Array>;
  /**
   * Opens `path` for reading ranges of it. The file stays readable through the reader
   * until it is closed, even if it is removed meanwhile.
   */
  openRead(path: string): Promise<WalReader>;
  /** Opens `path` for appending, creating it if absent. */
  openAppend(path: string): Promise<WalFile>;
  remove(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Shrinks the file to `lengthBytes` and makes the new length durable. */
  truncate(path: string, lengthBytes: number): Promise<void>;
  /** Makes the directory's entries (created, removed, renamed files) durable. */
  syncDir(dir: string): Promise<void>;
}

/** A file open for reading. */
export interface WalReader {
  /** Up to `length` bytes from `offset` (fewer at the end of the file). */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** A file open for appending. */
export interface WalFile {
  /** Appends all of `data` at the end of the file (one write call where the platform allows). */
  append(data: Uint8Array): Promise<void>;
  /** fdatasync: makes the file's bytes durable. */
  datasync(): Promise<void>;
  close(): Promise<void>;
}

export function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}
