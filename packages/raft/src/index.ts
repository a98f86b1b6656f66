// The pure Raft core: no I/O, no clock, no Node built-ins (src/core-entry.test.ts checks what it reaches).
// The write-ahead log and snapshot files are "@distcache/raft/wal"; test doubles are "@distcache/raft/testing".
export type { Term, LogIndex, NodeId } from "./types.js";
export { asTerm, asLogIndex, asNodeId, compareNodeIds, TERM_NONE, INDEX_NONE } from "./types.js";
export { RaftAssertionError } from "./assert.js";
export type { Entry, EntryKind } from "./entry.js";
export type { ConfState, SnapshotMetadata } from "./conf-state.js";
export type { ConfChange, ConfChangeKind } from "./membership/conf-change.js";
export { LEARNERS_MAX, applyConfChange, decodeConfChange, encodeConfChange, validateConfChange, describeConfChange } from "./membership/conf-change.js";
export { EMPTY_CONF_STATE, EMPTY_SNAPSHOT, MEMBERSHIP_BYTES_MAX, isConfStateEqual, membershipBytes, normalizeConfState } from "./conf-state.js";
export { LOG_ENTRY_OVERHEAD_BYTES, entrySizeBytes } from "./entry.js";
export type { HardState } from "./hard-state.js";
export { EMPTY_HARD_STATE, isHardStateEqual } from "./hard-state.js";
export type {
  Message,
  MessageType,
  InboundMessage,
  ProposeConfChangeMessage,
  SnapshotMessage,
  SnapshotStatusMessage,
  PeerMessage,
  LocalMessage,
  AppendMessage,
  AppendResponseMessage,
  VoteMessage,
  VoteResponseMessage,
  HeartbeatMessage,
  HeartbeatResponseMessage,
  ReadIndexMessage,
  ReadIndexResponseMessage,
  TransferLeaderMessage,
  TimeoutNowMessage,
} from "./message.js";
export { isLocalOnly } from "./message.js";
export type { RandomSource } from "./random.js";
export { SeededRandom } from "./random.js";
export type { RaftConfig, ResolvedRaftConfig } from "./config.js";
export { RaftConfigError, resolveConfig, VOTERS_MAX } from "./config.js";
export type { Storage, InitialState } from "./storage.js";
export { LogCompactedError, LogUnavailableError } from "./storage.js";
export { MemoryStorage } from "./memory-storage.js";
export type { Ready, ReadState, SoftState, Role } from "./ready.js";
export type { DropReason, Dropped, ProposalAccepted, ProposeResult, ReadIndexResult, TransferLeaderResult } from "./rejection.js";
export { ProposalDroppedError } from "./rejection.js";
export type { RaftNodeOptions, RaftStatus, FollowerStatus } from "./raft-node.js";
export { RaftNode } from "./raft-node.js";
export type { ProgressState } from "./tracker/progress.js";
export { describeBytes, describeEntry, describeHardState, describeMessage, describeReadState, describeReady, describeSnapshot } from "./describe.js";
