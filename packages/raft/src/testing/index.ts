// "@distcache/raft/testing": test doubles for the hosts' tests. MemoryWalFs is an in-memory
// WalFs (for NodeWal and SnapshotFiles, "@distcache/raft/wal") with fault injection, crashes
// and, in lossy mode, power loss.
export { MemoryWalFs } from "../wal/memory-wal-fs.js";
