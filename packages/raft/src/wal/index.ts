// "@distcache/raft/wal": the node's shared write-ahead log, one of the package's two I/O
// adapters with "./snapshot" (they use node:fs; the core, "@distcache/raft", never imports them).
export type { GroupId } from "./group-id.js";
export type { WalAppend } from "./node-wal.js";
export { NodeWal } from "./node-wal.js";
export type { WalGroupStorage } from "./wal-group-storage.js";
export type { WalOptions } from "./wal-options.js";
export type { WalFs } from "./wal-fs.js";
export { NodeWalFs } from "./node-wal-fs.js";
export { WalCorruptionError, WalClosedError, WalFailedError, WalFormatError, WalLimitError } from "./wal-errors.js";
