import type { SnapshotMetadata } from "./conf-state.js";
import type { Entry } from "./entry.js";
import type { HardState } from "./hard-state.js";
import type { PeerMessage, SnapshotMessage } from "./message.js";
import type { LogIndex, NodeId } from "./types.js";

export type Role = "follower" | "preCandidate" | "candidate" | "leader";

/** Volatile state the host may want to observe (who leads, what this node is). Never persisted. */
export interface SoftState {
  readonly lead: NodeId | undefined;
  readonly role: Role;
}

/**
 * A confirmed ReadIndex (thesis §6.4): once the host's state machine has applied
 * `index`, it may answer the read identified by `context` from local state.
 */
export interface ReadState {
  readonly index: LogIndex;
  readonly context: Uint8Array;
}

/**
 * A batch of work the core hands to its host. The core performs no I/O; the
 * host does it, in this order, then calls `RaftNode.advance(ready)`:
 *
 *   1. `immediateMessages` may be sent at once, in parallel with step 2. They
 *      never depend on this Ready's persistence (a leader may replicate entries
 *      while writing them to its own disk, thesis §10.2.1; the leader counts
 *      itself toward a quorum only after `advance`).
 *   2. Persist, atomically and durably: `entries` (an append that first discards
 *      any stored suffix from entries[0].index on) and `hardState` if set.
 *   3. Only then send `messages`: they may promise what step 2 wrote (a vote,
 *      an acknowledged append). Sending them earlier breaks safety after a crash.
 *   4. Apply `committedEntries` in order, and answer the reads in `readStates`
 *      once the state machine has applied their index.
 *   5. Call `advance(ready)`.
 *
 * A host may also hold every message until step 2 finished: simplest, and safe.
 * Between `ready()` and `advance()` the host may keep calling `step`, `tick` and
 * `propose`, but must not call `ready()` again; `hasReady()` is false meanwhile.
 * Apply only `committedEntries`: nothing else in a Ready is committed.
 *
 * Snapshots (thesis §5.1–§5.3). The core holds no snapshot data, only metadata.
 *
 *  - Sending (leader). Each message in `snapshotsToSend` asks the host to
 *    stream the state-machine snapshot that `message.snapshot` names (the one
 *    `Storage.snapshot()` returns) to `message.to`, in chunks, out of band. The
 *    follower's host steps the message into its node once it holds all of the
 *    data. The leader's host then calls `reportSnapshot(to, ok)`, exactly once
 *    per message, with ok=false if the transfer failed: until it does, the
 *    leader sends that follower no appends. Keep the snapshot a message names
 *    until its transfer is reported, even if a newer one is taken meanwhile.
 *  - Installing (follower). When `snapshot` is set, the leader's snapshot
 *    replaced this node's whole log. In step 2, before `entries`: persist the
 *    snapshot's data, then replace the stored log with it (`MemoryStorage.
 *    applySnapshot`, or the `snapshot` field of `NodeWal.append`), durably.
 *    In step 4, restore the state machine from that data first, then apply
 *    `committedEntries`, which start right after `snapshot.index`.
 *  - Compacting (any node). After the state machine saved a snapshot at an
 *    applied index i: `meta = node.snapshotMetadata(i)`, then compact storage
 *    to `meta`. On restart, restore the state machine from the snapshot that
 *    `Storage.snapshot()` names before creating the node; the node starts with
 *    that index applied.
 */
export interface Ready {
  /** Set when the role or the known leader changed since the last Ready. */
  readonly softState: SoftState | undefined;
  /** Set when term, vote or commit changed; persist it with `entries`. */
  readonly hardState: HardState | undefined;
  /** A snapshot from the leader that replaces the whole log: persist it before `entries`, restore it before applying. */
  readonly snapshot: SnapshotMetadata | undefined;
  /** Entries to append to stable storage. */
  readonly entries: readonly Entry[];
  /** Send only after `entries` and `hardState` are durable. */
  readonly messages: readonly PeerMessage[];
  /** Safe to send before persisting (see step 1). */
  readonly immediateMessages: readonly PeerMessage[];
  /** Leader: snapshots to stream to followers; each transfer ends with `reportSnapshot`. May start at once. */
  readonly snapshotsToSend: readonly SnapshotMessage[];
  /** Committed entries to apply, contiguous, starting right after the last applied index. */
  readonly committedEntries: readonly Entry[];
  /** Reads confirmed since the last Ready. */
  readonly readStates: readonly ReadState[];
  /** True if the write in step 2 must reach the disk (fsync) before step 3. */
  readonly mustSync: boolean;
}
