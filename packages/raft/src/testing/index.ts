// "@distcache/raft/testing": what hosts' tests use. MemoryWalFs is an in-memory WalFs (for
// NodeWal, "@distcache/raft/wal", and SnapshotFiles, "@distcache/raft/snapshot") with fault
// injection, crashes and, in lossy mode, power loss; RaftTestingBugs are the planted bugs a
// RaftConfig may switch on (the simulator proves its checks catch them); LossyNodeWalFs is
// the real file system tracking what a power loss would keep, for nodes under
// --testing-storage lossy.
export { MemoryWalFs } from "../wal/memory-wal-fs.js";
export type { RaftTestingBugs } from "../config.js";
export { LossyNodeWalFs, type CrashReport } from "../wal/lossy-node-wal-fs.js";
