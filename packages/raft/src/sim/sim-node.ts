import { MemoryStorage } from "../memory-storage.js";
import { SeededRandom } from "../random.js";
import type { RaftConfig } from "../config.js";
import { RaftNode } from "../raft-node.js";
import type { Ready } from "../ready.js";
import { assert } from "../assert.js";
import type { SnapshotMetadata } from "../conf-state.js";
import type { LogIndex, NodeId, Term } from "../types.js";
import type { ClientOp } from "./clients.js";
import type { KvSnapshot } from "./kv-state-machine.js";
import { KvStateMachine } from "./kv-state-machine.js";

/**
 * One simulated server: durable storage that survives crashes, and volatile
 * state that does not (the Raft node, the state machine, the Ready being
 * written, the requests its clients are waiting on).
 */
export class SimNode {
  readonly id: NodeId;
  /** What reached the disk. Written only when a Ready's persist step completes. */
  readonly storage: MemoryStorage;
  /** The state-machine snapshot on disk; always the one `storage.snapshot()` names. */
  snapshot: { readonly meta: SnapshotMetadata; readonly data: KvSnapshot } | undefined;
  /** Snapshot data streamed in from a leader, by index, until a Ready installs it. Lost on a crash. */
  readonly receivedSnapshots = new Map<LogIndex, KvSnapshot>();
  private readonly config: RaftConfig;
  raft: RaftNode | undefined;
  machine = new KvStateMachine();
  /** A Ready whose persist step is in progress; a crash loses it. */
  inflight: Ready | undefined;
  /** Bumped on every crash so a persist completion scheduled before it is ignored. */
  generation = 0;
  /** Commit index already reported to the safety checker while leading. */
  leaderCommitSeen = 0 as LogIndex;
  /** The term this node was last seen leading, and its commit index then: advances past it were counted by it. */
  leaderTerm = 0 as Term;
  countedCommitFrom = 0 as LogIndex;
  restartAtUnits: number | undefined;
  /** Stopped by its host after its removal committed; restarted only if added back. */
  retired = false;
  /** Proposals accepted here, by log index: the client learns the outcome when that index applies. */
  readonly pendingWrites = new Map<LogIndex, { readonly term: Term; readonly op: ClientOp }>();
  /** Reads started here, by context: served once a ReadState arrives and its index is applied. */
  readonly pendingReads = new Map<string, { readonly op: ClientOp; index: LogIndex | undefined }>();

  constructor(id: NodeId, config: RaftConfig, seed: number) {
    this.id = id;
    this.config = config;
    this.storage = new MemoryStorage(config.voters);
    this.start(seed);
  }

  get up(): boolean {
    return this.raft !== undefined;
  }

  /** Builds the volatile state from storage, as a process does when it starts. */
  start(seed: number): void {
    // The host restores its state machine from the snapshot on disk before the node starts (ready.ts).
    assert((this.snapshot?.meta.index ?? 0) === this.storage.snapshot().index, "the snapshot on disk is the one storage was compacted to");
    this.machine = new KvStateMachine(this.snapshot?.data);
    this.raft = new RaftNode({ config: this.config, storage: this.storage, random: new SeededRandom(seed) });
    this.inflight = undefined;
    this.leaderCommitSeen = this.raft.commit;
    this.restartAtUnits = undefined;
  }

  /** Drops everything volatile. Returns the client requests that were waiting here. */
  crash(): ClientOp[] {
    this.raft = undefined;
    this.inflight = undefined;
    this.generation += 1;
    this.receivedSnapshots.clear();
    const orphans = [...[...this.pendingWrites.values()].map((w) => w.op), ...[...this.pendingReads.values()].map((r) => r.op)];
    this.pendingWrites.clear();
    this.pendingReads.clear();
    return orphans;
  }
}
