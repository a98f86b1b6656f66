// "@distcache/raft/snapshot": a node's state-machine snapshot files, one of the package's two
// I/O adapters with "./wal" (they use node:fs; the core, "@distcache/raft", never imports them).
export type { SnapshotFileId } from "./snapshot-files.js";
export { SnapshotFiles, SnapshotCorruptionError, SNAPSHOT_CHUNK_BYTES_MAX } from "./snapshot-files.js";
