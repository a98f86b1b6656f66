import { assert } from "../assert.js";
import type { RaftConfig } from "../config.js";
import type { SnapshotMetadata } from "../conf-state.js";
import { SeededRandom } from "../random.js";
import { RaftNode } from "../raft-node.js";
import type { Ready } from "../ready.js";
import type { LogIndex, NodeId, Term } from "../types.js";
import { MemoryWalFs } from "../wal/memory-wal-fs.js";
import { NodeWal } from "../wal/node-wal.js";
import type { WalGroupStorage } from "../wal/wal-group-storage.js";
import type { WalOptions } from "../wal/wal-options.js";
import type { ClientOp } from "./clients.js";
import type { KvSnapshot } from "./kv-state-machine.js";
import { KvStateMachine } from "./kv-state-machine.js";

/** The one Raft group each simulated server hosts, and where its log lives. */
const GROUP = 1;
const WAL_DIR = "/wal";

/**
 * One simulated server. Its disk is the real write-ahead log (`NodeWal`) over
 * an in-memory file system in lossy mode: bytes written but not synced are
 * lost in a crash, so a host that skips a needed fsync loses data here, as it
 * would on power loss. Everything else is volatile: the Raft node, the state
 * machine, the Ready being written, the requests its clients wait on.
 */
export class SimNode {
  readonly id: NodeId;
  private readonly config: RaftConfig;
  private readonly walOptions: WalOptions;
  /** The file system of the current process; a crash replaces it with what survived. */
  private fs = new MemoryWalFs({ lossy: true });
  private wal: NodeWal | undefined;
  /**
   * The group's log as the last process saw it. While the node is down this
   * is the dead process's view: checkers read it, though a crash may have lost
   * its unsynced tail.
   */
  storage: WalGroupStorage | undefined;
  /** The state-machine snapshot on disk; always the one the log was compacted to. */
  snapshot: { readonly meta: SnapshotMetadata; readonly data: KvSnapshot } | undefined;
  /** Snapshot data streamed in from a leader, by index, until a Ready installs it. Lost on a crash. */
  readonly receivedSnapshots = new Map<LogIndex, KvSnapshot>();
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

  constructor(id: NodeId, config: RaftConfig, walOptions: WalOptions) {
    this.id = id;
    this.config = config;
    this.walOptions = walOptions;
  }

  get up(): boolean {
    return this.raft !== undefined;
  }

  /** Recovers the log and builds the volatile state from it, as a process does when it starts. */
  async start(seed: number): Promise<void> {
    this.wal = await NodeWal.open(WAL_DIR, { ...this.walOptions, fs: this.fs });
    const storage = this.wal.storage(GROUP);
    this.storage = storage;
    // The host restores its state machine from the snapshot on disk before the node starts (ready.ts).
    assert((this.snapshot?.meta.index ?? 0) === storage.snapshot().index, "the snapshot on disk is the one the log was compacted to");
    this.machine = new KvStateMachine(this.snapshot?.data);
    this.raft = new RaftNode({ config: this.config, storage, random: new SeededRandom(seed) });
    this.inflight = undefined;
    this.leaderCommitSeen = this.raft.commit;
    this.restartAtUnits = undefined;
  }

  /** Ready step 2: one append with the Ready's snapshot, entries and hard state; synced iff the core asks. */
  persist(ready: Ready): Promise<void> {
    return this.liveWal().append([{ group: GROUP, snapshot: ready.snapshot, entries: ready.entries, hardState: ready.hardState }], ready.mustSync);
  }

  /** Log compaction to a snapshot the state machine saved (always synced). */
  compact(meta: SnapshotMetadata): Promise<void> {
    return this.liveWal().compact(GROUP, meta.index, meta.term, meta.confState);
  }

  /** Power loss: unsynced bytes are gone, and so is everything volatile. Returns the client requests that were waiting here. */
  crash(): ClientOp[] {
    this.fs = this.fs.crash();
    this.wal = undefined;
    this.raft = undefined;
    this.inflight = undefined;
    this.generation += 1;
    this.receivedSnapshots.clear();
    const orphans = [...[...this.pendingWrites.values()].map((w) => w.op), ...[...this.pendingReads.values()].map((r) => r.op)];
    this.pendingWrites.clear();
    this.pendingReads.clear();
    return orphans;
  }

  private liveWal(): NodeWal {
    assert(this.wal !== undefined, `${this.id} is down`);
    return this.wal;
  }
}
