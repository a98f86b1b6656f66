import { create } from "@bufbuild/protobuf";
import { NoopSchema } from "@distcache/proto/raft";
import { encodeCommand } from "../state-machine/command-codec.js";
import {
  asLogIndex,
  type ConfChange,
  type Entry,
  type InboundMessage,
  type RaftNode,
  type ReadState,
  type Role,
  type SoftState,
  type Storage,
} from "@distcache/raft";
import type { CommandOp, SessionHeader } from "./consensus-port.js";
import type { CommandResult, RestoredShard, ShardStateMachine } from "../state-machine/shard-state-machine.js";
import type { Clock } from "./clock.js";
import { ClusterTime } from "./cluster-time.js";
import { groupOfShard } from "./group-log.js";
import { configureCommand, type StoreSettings } from "../state-machine/store-settings.js";
import { IndeterminateError, NotLeaderError, OverloadedError, WriteLostError, droppedError } from "./port-errors.js";
import type { ReadContexts } from "./read-context.js";
import { ReplicaDrain } from "./replica-drain.js";
import type { PlantedBug } from "../config/testing-switches.js";
import { guessedResult } from "./planted-bugs.js";

interface PendingWrite {
  term: number;
  /** A command's result, or (a membership change) none. */
  resolve: (result: CommandResult | undefined) => void;
  /** What the entry at the write's index must be for the write to have taken effect. */
  kind: "command" | "config";
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

interface PendingRead {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  /** Set once the leader confirmed the read index; the read waits until it is applied. */
  index?: number;
  /**
   * The oldest last applied stamp the read may be judged at: cluster time on arrival (or,
   * on a follower, the leader's when it answered the read index) less readStampLagMsMax.
   */
  stampMsMin: number;
  /** Set when the read waits for a time entry: the term this replica led in then. */
  term?: number;
}

/** What every replica of a node is configured with. */
export interface ReplicaOptions {
  clock: Clock;
  /** How long a proposal or read may wait before it fails. */
  operationTimeoutMs: number;
  /** Most strong reads this replica holds at once; one more is refused as overloaded. */
  readsPendingMax: number;
  /**
   * How far a strong read's stamp may trail cluster time: a read on a replica whose last
   * applied stamp is older waits for a time entry (at the leader) or goes to the leader.
   */
  readStampLagMsMax: number;
  /** The store settings this node's flags give, proposed when it is the first leader of a new group. */
  seed?: StoreSettings;
  /** Asks the driver for a cycle: a proposal made outside any request (a time entry) was queued. */
  schedule: () => void;
  /** Told after the replica applied entries or installed a snapshot (watchers read its new change events). */
  applied: (shard: number) => void;
  /** Planted bugs (test-only, config/testing-switches.ts); none on a production node. */
  bugs: ReadonlySet<PlantedBug>;
}

/**
 * The host side of one shard's Raft group on this node: it turns proposals and strong
 * reads into promises, applies committed entries to the shard's state machine and
 * settles the promises. The RaftNode itself stays pure; the driver feeds it.
 */
export class ShardReplica {
  private readonly writes = new Map<number, PendingWrite>();
  /** Being removed from this node (MultiRaft.removeGroup): the driver takes none of its Readys. */
  removing = false;
  /** Strong reads waiting for their read index, by the counter in their context. */
  private readonly reads = new Map<number, PendingRead>();
  /** Strong reads whose read index is confirmed, waiting for it to be applied here. */
  private readonly waitingApply = new Set<PendingRead>();
  /** Strong reads at the leader, applied past their read index, waiting for a time entry to apply. */
  private readonly waitingStamp = new Set<PendingRead>();
  /** This replica's estimate of the shard's time (invariant 9 of docs/design.md). */
  private readonly time: ClusterTime;
  /** This replica's latest proposal as leader: its stamp and term. */
  private lastProposed = { stampMs: 0, term: 0 };
  /** A time entry is wanted but was refused while leadership was being transferred: tried again each tick. */
  private timeEntryWanted = false;
  /** The Raft group that replicates the shard: its id in the group log and on the peer wire. */
  readonly group: number;
  /** Whether the driver is inside one of this replica's Readys, and whether captures hold them back. */
  readonly drain: ReplicaDrain;
  role: Role = "follower";
  leaderId: string | undefined;
  term = 0;
  /** Peer messages stepped into the node since the driver last took a Ready of this group. */
  inbound = 0;
  /** The last term in which this replica, as leader, decided whether to seed the group's store settings. */
  private seedCheckedTerm = 0;

  constructor(
    readonly shard: number,
    readonly node: RaftNode,
    /** The group's stable log, as the node reads it. */
    readonly storage: Storage,
    readonly machine: ShardStateMachine,
    /** This replica's ReadIndex contexts (node id, incarnation nonce, shard, counter). */
    private readonly contexts: ReadContexts,
    private readonly options: ReplicaOptions,
  ) {
    this.group = groupOfShard(shard);
    this.drain = new ReplicaDrain(shard);
    this.time = new ClusterTime(machine.lastStampMs, options.clock.monotonicMs(), storage.lastIndex());
  }

  /**
   * This replica's estimate of the shard's time, at which EVENTUAL reads judge expiry; a
   * leader's estimate is what it stamps proposals with (invariant 9 of docs/design.md).
   */
  clusterTimeMs(): number {
    const { clock } = this.options;
    return this.time.nowMs(clock.monotonicMs(), this.role === "leader" ? clock.nowMs() : undefined);
  }

  /** What messages this replica sends now carry as the leader's cluster time: its estimate if it leads, else nothing. */
  leaderTimeForMessages(): number | undefined {
    return this.role === "leader" ? this.clusterTimeMs() : undefined;
  }

  /**
   * A peer message carried its sender's cluster time. From this replica's leader in the
   * current term, the estimate follows it; on the answer to one of this replica's read
   * index requests, it is also the oldest time that read may be judged at (less
   * readStampLagMsMax), however late the answer and the entries before it arrive.
   */
  observedLeaderTime(message: InboundMessage, leaderMs: number): void {
    if (message.from !== this.node.lead || message.term !== this.node.term) return;
    this.time.observedLeader(leaderMs, this.options.clock.monotonicMs());
    if (message.type !== "readIndexResp") return;
    const id = this.contexts.idOf(message.context);
    const read = id === undefined ? undefined : this.reads.get(id);
    if (read) read.stampMsMin = Math.max(read.stampMsMin, leaderMs - this.options.readStampLagMsMax);
  }

  /** Stamps and proposes a command; resolves with its result once applied here. */
  propose(op: CommandOp, session: SessionHeader | undefined, onProposed: () => void): Promise<CommandResult> {
    // Off the leader the core drops every proposal: refused before stamping and encoding
    // it, which an entry node forwarding most writes would otherwise do for each.
    if (this.node.role !== "leader") return Promise.reject(droppedError(this.shard, { reason: "not-leader", leaderHint: this.node.lead }));
    this.seedIfNew(onProposed);
    // Stamped with the cluster time estimate, which never goes backwards, even across
    // leaders: a new leader continues from the stamps it applied.
    const { clock } = this.options;
    const stampMs = this.time.stamp(clock.monotonicMs(), clock.nowMs());
    const result = this.node.propose(
      encodeCommand({
        stampMs: BigInt(stampMs),
        sessionId: session?.sessionId ?? "",
        sequence: session?.sequence ?? 0n,
        ackedSequence: session?.ackedSequence ?? 0n,
        sessionStartedMs: session?.sessionStartedMs ?? 0n,
        op,
      }),
    );
    if (!result.accepted) return Promise.reject(droppedError(this.shard, result));
    this.lastProposed = { stampMs, term: result.term };
    onProposed();
    return new Promise<CommandResult>((resolve, reject) => {
      this.awaitApply(result.index, result.term, "command", (applied) => resolve(applied!), reject);
      // Planted bug: answered now, before the entry commits; its apply settles nothing more.
      const guess = this.options.bugs.has("ack-before-commit") ? guessedResult(op, this.machine) : undefined;
      if (guess !== undefined) resolve(guess);
    });
  }

  /**
   * Proposes one membership change of the shard's group (on its leader); resolves once
   * the change's entry is applied here, which is when it is committed: a group's
   * configuration takes effect when appended, and is safe to build on once committed.
   */
  proposeConfChange(change: ConfChange, onProposed: () => void): Promise<void> {
    const result = this.node.proposeConfChange(change);
    if (!result.accepted) return Promise.reject(droppedError(this.shard, result));
    onProposed();
    return new Promise<void>((resolve, reject) => this.awaitApply(result.index, result.term, "config", () => resolve(), reject));
  }

  /** Settles a proposal at (index, term) when that index applies, or fails it as indeterminate after the operation timeout. */
  private awaitApply(index: number, term: number, kind: PendingWrite["kind"], resolve: PendingWrite["resolve"], reject: (err: Error) => void): void {
    const { operationTimeoutMs } = this.options;
    const timer = setTimeout(() => {
      this.writes.delete(index);
      reject(new IndeterminateError(`shard ${this.shard}: write at index ${index} not applied within ${operationTimeoutMs} ms; it may or may not take effect`));
    }, operationTimeoutMs);
    this.writes.set(index, { term, kind, resolve, reject, timer });
  }

  /** Resolves when a linearizable read may be served from this replica (ReadIndex, thesis §6.4). */
  readBarrier(onRequested: () => void): Promise<void> {
    // Each pending read holds a timer and, on a follower, a message to the leader: bounded.
    const { readsPendingMax, readStampLagMsMax, operationTimeoutMs } = this.options;
    if (this.reads.size + this.waitingApply.size + this.waitingStamp.size >= readsPendingMax) {
      return Promise.reject(new OverloadedError(`shard ${this.shard}: ${readsPendingMax} strong reads are pending on this replica; retry later`));
    }
    // Planted bug: a follower serves what it applied, with no read index.
    if (this.options.bugs.has("follower-read-without-read-index") && this.role !== "leader") return Promise.resolve();
    const stampMsMin = this.clusterTimeMs() - readStampLagMsMax;
    const { id, context } = this.contexts.create();
    const result = this.node.readIndex(context);
    if (!result.accepted) return Promise.reject(droppedError(this.shard, result));
    onRequested();
    return new Promise<void>((resolve, reject) => {
      const read: PendingRead = { resolve, reject, timer: undefined as unknown as NodeJS.Timeout, stampMsMin };
      read.timer = setTimeout(() => {
        // Whichever stage the read reached, it leaves every structure with its timer.
        this.reads.delete(id);
        this.waitingApply.delete(read);
        this.waitingStamp.delete(read);
        reject(new NotLeaderError(this.shard, this.leaderId, `read index not confirmed and applied within ${operationTimeoutMs} ms`));
      }, operationTimeoutMs);
      this.reads.set(id, read);
    });
  }

  /** Strong reads this replica holds: waiting for their read index, and waiting for it to be applied. */
  get pendingReads(): { awaitingIndex: number; awaitingApply: number; awaitingStamp: number } {
    return { awaitingIndex: this.reads.size, awaitingApply: this.waitingApply.size, awaitingStamp: this.waitingStamp.size };
  }

  onSoftState(soft: SoftState): void {
    const wasLeader = this.role === "leader";
    const previousLeader = this.leaderId;
    this.role = soft.role;
    this.leaderId = soft.lead;
    // Reads awaiting a read index from a leader that is no longer the one (this node,
    // stepped down, or the leader a follower asked) will never be confirmed: fail them
    // now so clients retry at the new leader. Writes stay pending: they may still commit.
    if (wasLeader && soft.role !== "leader") this.failReads("leadership lost");
    else if (soft.role !== "leader" && previousLeader !== soft.lead)
      this.failReads(`the leader changed from ${previousLeader ?? "none"} to ${soft.lead ?? "none"}`);
    // The driver drains Readys until none is left, so a seed proposed here leaves this cycle.
    if (soft.role === "leader") this.seedIfNew(() => undefined);
  }

  /**
   * A new group takes its store settings from its first leader's flags, proposed as the
   * group's first command (invariant 10 of docs/design.md); until it applies, every replica holds
   * BOOTSTRAP_STORE_SETTINGS, so nothing depends on any node's flags. Decided once per
   * term this replica leads, before its first proposal of the term, so the seed precedes
   * whatever this leader proposes: the first command of any log is a seed. A group whose
   * log holds or applied a command is past its bootstrap and is never seeded again, so
   * a restarted node's flags change nothing.
   */
  private seedIfNew(onProposed: () => void): void {
    const { seed } = this.options;
    if (seed === undefined || this.node.role !== "leader" || this.seedCheckedTerm === this.node.term) return;
    this.seedCheckedTerm = this.node.term;
    if (!this.isNewGroup()) return;
    this.propose({ case: "configure", value: configureCommand(seed) }, undefined, onProposed).catch(() => undefined);
  }

  /** True when no command was applied here and none is in the leader's log (only empty entries are). */
  private isNewGroup(): boolean {
    // Every valid command moves the applied stamp forward from 0.
    if (this.machine.lastStampMs > 0) return false;
    const stableLast = this.storage.lastIndex();
    let next = Math.max(this.machine.appliedIndex + 1, this.storage.firstIndex());
    while (next <= stableLast) {
      const page = this.storage.entries(asLogIndex(next), asLogIndex(stableLast + 1), 1 << 20);
      if (page.length === 0) return false;
      if (page.some((entry) => entry.kind === "command")) return false;
      next = page[page.length - 1]!.index + 1;
    }
    // Entries not yet persisted: only this term's empty entry may be among them.
    const last = this.node.status().lastIndex;
    for (let index = Math.max(next, stableLast + 1); index <= last; index++) {
      if (this.node.termAt(asLogIndex(index)) !== this.node.term) return false;
    }
    return true;
  }

  onReadStates(states: readonly ReadState[]): void {
    for (const state of states) {
      // A context that is not exactly one of ours (another node's or incarnation's, or
      // garbage a peer sent) answers none of our reads.
      const id = this.contexts.idOf(state.context);
      const read = id === undefined ? undefined : this.reads.get(id);
      if (id === undefined || !read) continue;
      this.reads.delete(id);
      if (this.machine.appliedIndex >= state.index) this.settleRead(read);
      else {
        read.index = state.index;
        this.waitingApply.add(read);
      }
    }
  }

  /** Committed entries taken while a capture held the replica, to apply once it is released. */
  private readonly deferred: Entry[] = [];

  /** Keeps committed entries for later: a capture is reading the replica. */
  defer(entries: readonly Entry[]): void {
    for (const entry of entries) this.deferred.push(entry);
  }

  /** The index committed entries must continue from: the last deferred one, else the applied index. */
  get nextApplyAfter(): number {
    return this.deferred.at(-1)?.index ?? this.machine.appliedIndex;
  }

  /** Applies the deferred entries (the capture is over); returns their bytes as the snapshot schedule counts them. */
  applyDeferred(sizeOf: (entry: Entry) => number): number {
    if (this.deferred.length === 0) return 0;
    const entries = this.deferred.splice(0);
    this.applyCommitted(entries);
    return entries.reduce((bytes, entry) => bytes + sizeOf(entry), 0);
  }

  /** Applies committed entries in order and settles the proposals they answer. */
  applyCommitted(entries: readonly Entry[]): void {
    let commandIndex: number | undefined;
    for (const entry of entries) {
      let result: CommandResult | undefined;
      // Only command entries carry state machine commands; others (a new leader's empty entry) only advance the index.
      if (entry.kind !== "command") this.machine.skip(entry.index);
      else {
        result = this.machine.apply(entry.index, entry.data, entry.term);
        commandIndex = entry.index;
      }
      const write = this.writes.get(entry.index);
      if (!write) continue;
      this.writes.delete(entry.index);
      clearTimeout(write.timer);
      // Our proposal took effect iff the entry at its index has its term (and is what we proposed).
      if (write.term === entry.term && (write.kind === "config" ? entry.kind === "config" : result !== undefined)) write.resolve(result);
      else write.reject(new WriteLostError(this.shard, this.leaderId));
    }
    this.time.applied(this.machine.lastStampMs, this.options.clock.monotonicMs(), commandIndex);
    this.releaseAppliedReads();
    this.options.applied(this.shard);
  }

  /**
   * Replaces the replica's state with a leader's snapshot (the Ready that installs it
   * was persisted). Proposals at indexes it covers can no longer be matched to their
   * entries, so their outcome is unknown to this node.
   */
  installSnapshot(state: RestoredShard): void {
    this.machine.install(state);
    this.time.applied(state.lastStampMs, this.options.clock.monotonicMs(), undefined);
    for (const [index, write] of this.writes) {
      if (index > state.index) continue;
      this.writes.delete(index);
      clearTimeout(write.timer);
      write.reject(
        new IndeterminateError(
          `shard ${this.shard}: the replica was replaced by a snapshot at index ${state.index}; the write may or may not have taken effect`,
        ),
      );
    }
    this.releaseAppliedReads();
    this.options.applied(this.shard);
  }

  private releaseAppliedReads(): void {
    if (this.waitingApply.size === 0 && this.waitingStamp.size === 0) return;
    const applied = this.machine.appliedIndex;
    for (const read of this.waitingApply) {
      if ((read.index ?? 0) <= applied) {
        this.waitingApply.delete(read);
        this.settleRead(read);
      }
    }
    for (const read of this.waitingStamp) {
      if (this.machine.lastStampMs >= read.stampMsMin) {
        this.waitingStamp.delete(read);
        this.settleRead(read);
      }
    }
  }

  /**
   * A read applied past its read index is served here if the last applied stamp is recent
   * enough, since it is judged at that stamp. Otherwise a leader waits for a time entry,
   * proposing one unless its latest proposal already carries a recent enough stamp; a
   * follower cannot propose, and sends the read to the leader.
   */
  private settleRead(read: PendingRead): void {
    if (this.machine.lastStampMs >= read.stampMsMin) {
      clearTimeout(read.timer);
      read.resolve();
      return;
    }
    if (this.role !== "leader") {
      clearTimeout(read.timer);
      read.reject(this.staleStampError());
      return;
    }
    read.term = this.node.term;
    this.waitingStamp.add(read);
    const { stampMs, term } = this.lastProposed;
    if (term !== this.node.term || stampMs < read.stampMsMin) this.proposeTimeEntry();
  }

  private staleStampError(): NotLeaderError {
    return new NotLeaderError(
      this.shard,
      this.leaderId,
      `this replica's last applied stamp trails cluster time by more than ${this.options.readStampLagMsMax} ms`,
    );
  }

  /** Each tick: proposes the time entry a transfer of leadership refused, if reads still wait for it. */
  retryTimeEntry(): void {
    if (!this.timeEntryWanted) return;
    this.timeEntryWanted = false;
    if (this.role === "leader" && this.waitingStamp.size > 0) this.proposeTimeEntry();
  }

  /** Proposes a command that only carries time forward, for the strong reads waiting on it. */
  private proposeTimeEntry(): void {
    const term = this.node.term;
    this.propose({ case: "noop", value: create(NoopSchema) }, undefined, this.options.schedule).catch((err: unknown) => {
      // While leadership is handed over, proposals are refused: the reads wait, and are
      // failed with the other reads if the handover succeeds, or get their entry if not.
      if (err instanceof NotLeaderError && err.reason === "transferring-leadership" && this.role === "leader") {
        this.timeEntryWanted = true;
        return;
      }
      // Refused for load or lost: the reads of that term waiting on it fail too, so their
      // callers retry. Reads of a later term wait for an entry of their own.
      const failure =
        err instanceof OverloadedError
          ? err
          : new NotLeaderError(
              this.shard,
              this.leaderId,
              `the time entry strong reads wait for was not applied (${err instanceof Error ? err.message : String(err)})`,
            );
      for (const read of this.waitingStamp) {
        if (read.term !== term) continue;
        this.waitingStamp.delete(read);
        clearTimeout(read.timer);
        read.reject(failure);
      }
    });
  }

  private failReads(reason: string): void {
    for (const read of [...this.reads.values(), ...this.waitingStamp]) {
      clearTimeout(read.timer);
      read.reject(new NotLeaderError(this.shard, this.leaderId, reason));
    }
    this.reads.clear();
    this.waitingStamp.clear();
  }

  /** Fails everything still pending (the node is stopping). */
  close(reason: string): void {
    this.failReads(reason);
    for (const write of this.writes.values()) {
      clearTimeout(write.timer);
      write.reject(new IndeterminateError(`${reason}; the write may or may not take effect`));
    }
    this.writes.clear();
    for (const read of this.waitingApply) {
      clearTimeout(read.timer);
      read.reject(new NotLeaderError(this.shard, this.leaderId, reason));
    }
    this.waitingApply.clear();
  }
}
