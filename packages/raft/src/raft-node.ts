import { assert } from "./assert.js";
import type { RaftConfig } from "./config.js";
import { resolveConfig } from "./config.js";
import { payloadBytes } from "./entry.js";
import type { HardState } from "./hard-state.js";
import { isHardStateEqual } from "./hard-state.js";
import type { ConfState, SnapshotMetadata } from "./conf-state.js";
import type { ConfChange } from "./membership/conf-change.js";
import type { InboundMessage } from "./message.js";
import { isLocalOnly } from "./message.js";
import type { RandomSource } from "./random.js";
import { Raft } from "./raft.js";
import type { Ready, Role, SoftState } from "./ready.js";
import type { ProposeResult, ReadIndexResult, TransferLeaderResult } from "./rejection.js";
import type { Storage } from "./storage.js";
import type { ProgressState } from "./tracker/progress.js";
import type { LogIndex, NodeId, Term } from "./types.js";
import { TERM_NONE } from "./types.js";

export interface RaftNodeOptions {
  readonly config: RaftConfig;
  /** The stable log this node restarts from; the host writes it as Ready asks. */
  readonly storage: Storage;
  /** The only randomness the core uses (election timeouts); seed it to replay runs. */
  readonly random: RandomSource;
}

export interface FollowerStatus {
  readonly id: NodeId;
  readonly match: LogIndex;
  readonly next: LogIndex;
  readonly state: ProgressState;
}

export interface RaftStatus {
  /** The membership in force: the latest in this node's log, committed or not (thesis §4.1). */
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly vote: NodeId | undefined;
  readonly lead: NodeId | undefined;
  readonly commit: LogIndex;
  readonly applied: LogIndex;
  readonly lastIndex: LogIndex;
  readonly leadTransferee: NodeId | undefined;
  /** Leader only: its view of every voter, in voter order. */
  readonly progress: readonly FollowerStatus[];
  /** Leader only: its view of every learner (how far each caught up), in id order. */
  readonly learnerProgress: readonly FollowerStatus[];
}

/**
 * The public face of the core. Every input becomes a message to `Raft.step`
 * (one entry point); every output leaves through `ready()`. See `Ready` for the
 * host's contract. Not thread-safe, and needs none: the host calls it from one
 * event loop.
 */
export class RaftNode {
  private readonly raft: Raft;
  private previousSoftState: SoftState;
  private previousHardState: HardState;
  private readyInProgress: Ready | undefined;

  constructor(options: RaftNodeOptions) {
    this.raft = new Raft(resolveConfig(options.config), options.storage, options.random);
    this.previousSoftState = this.raft.softState();
    this.previousHardState = this.raft.hardState();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  /** Cheap accessors for hosts and checkers that poll after every step. */
  get role(): Role {
    return this.raft.role;
  }

  get term(): Term {
    return this.raft.term;
  }

  get lead(): NodeId | undefined {
    return this.raft.lead;
  }

  get commit(): LogIndex {
    return this.raft.log.committed;
  }

  /** The voters in force (the latest configuration in this node's log). Cheap: for checkers that poll after every step. */
  get voters(): readonly NodeId[] {
    return this.raft.tracker.voters;
  }

  /** The learners in force (the latest configuration in this node's log). */
  get learners(): readonly NodeId[] {
    return this.raft.tracker.learners;
  }

  /**
   * The configuration in force at `index` of this node's log (its snapshot's below the
   * first index). For a host checking a leader's membership changes before they are stepped.
   */
  confStateAt(index: LogIndex): ConfState {
    return this.raft.confStateAt(index);
  }

  /** How many membership change entries this node's log holds above `index`. */
  confChangesAbove(index: LogIndex): number {
    return this.raft.log.configs.countAbove(index);
  }

  /** The first index still in the log: everything before it is in the last snapshot. */
  get firstIndex(): LogIndex {
    return this.raft.log.firstIndex();
  }

  /** Advances logical time by one tick (election and heartbeat timers). */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (tests; hosts normally let the timer do it). */
  campaign(): void {
    this.raft.step({ type: "hup", from: this.raft.id, to: this.raft.id, term: TERM_NONE, transfer: false });
  }

  /**
   * Feeds a message from a peer, or a `snapshot` message once the host holds
   * the snapshot's data (see `Ready.snapshot`). Returns false if it was ignored
   * as malformed for this node: addressed elsewhere, or a local-only type.
   *
   * Messages from nodes outside this node's configuration are accepted: its
   * view may lag (a new voter may lead before we hold the entry that added
   * it). Terms keep that safe; a removed server cannot disrupt the group while
   * PreVote and CheckQuorum are on (thesis §4.2.3: servers ignore campaigns
   * while they hear from a leader, and its stale log loses PreVote). The host
   * should still stop a removed replica once its removal commits.
   */
  step(message: InboundMessage): boolean {
    if (isLocalOnly(message) || message.to !== this.raft.id) return false;
    this.raft.step(message);
    return true;
  }

  /**
   * Leader's host: the snapshot transfer to `to` (from `Ready.snapshotsToSend`)
   * finished, successfully or not. Must be called once per transfer: until
   * then, the leader sends that follower no appends.
   */
  reportSnapshot(to: NodeId, ok: boolean): void {
    if (!this.raft.tracker.isMember(to)) return;
    this.raft.step({ type: "snapshotStatus", from: to, to: this.raft.id, term: TERM_NONE, reject: !ok });
  }

  /**
   * What a state-machine snapshot taken at `index` must record: the term of
   * the entry there and the membership in force (thesis §5.1). `index` must be
   * applied and still in the log (at or after the last snapshot). Host
   * sequence for log compaction: save the state machine's snapshot with this
   * metadata, then compact storage to it (`MemoryStorage.compact(meta)`, or
   * `NodeWal.compact(group, meta.index, meta.term, meta.confState)`).
   */
  snapshotMetadata(index: LogIndex): SnapshotMetadata {
    const log = this.raft.log;
    assert(index <= log.applied, `snapshot index ${index} is not applied yet (applied ${log.applied})`);
    assert(index >= log.firstIndex() - 1, `snapshot index ${index} precedes the log (first index ${log.firstIndex()})`);
    const term = log.term(index);
    assert(term !== undefined, `no term known at ${index}`);
    return { index, term, confState: this.raft.confStateAt(index) };
  }

  /**
   * Proposes one command. On a leader it is appended at the returned (term, index);
   * it took effect iff the entry applied at that index has that term. Anywhere
   * else it is dropped, with the known leader as a hint: never silently.
   */
  propose(data: Uint8Array): ProposeResult {
    const rejected = this.raft.step({ type: "propose", from: this.raft.id, to: this.raft.id, term: TERM_NONE, data });
    if (rejected !== undefined) return rejected;
    const index = this.raft.log.lastIndex();
    assert(this.raft.role === "leader" && this.raft.log.term(index) === this.raft.term, "an accepted proposal ends the leader's log");
    return { accepted: true, term: this.raft.term, index };
  }

  /**
   * Proposes one membership change (thesis §4.1: one server at a time). On the
   * leader it is appended at the returned (term, index) and takes effect at
   * once on every server that appends it; it is in force for good once it
   * commits. Dropped, with a reason, if a change is still uncommitted
   * (`config-change-pending`), if the change does not fit the current
   * membership (`invalid-config-change`, with `detail`), or off the leader.
   */
  proposeConfChange(change: ConfChange): ProposeResult {
    const rejected = this.raft.step({ type: "proposeConf", from: this.raft.id, to: this.raft.id, term: TERM_NONE, change });
    if (rejected !== undefined) return rejected;
    const index = this.raft.log.lastIndex();
    assert(this.raft.log.term(index) === this.raft.term, "an accepted change ends the leader's log");
    return { accepted: true, term: this.raft.term, index };
  }

  /** Starts a linearizable read (thesis §6.4); the answer arrives as a ReadState carrying `context`. */
  readIndex(context: Uint8Array): ReadIndexResult {
    const rejected = this.raft.step({ type: "readIndex", from: this.raft.id, to: this.raft.id, term: TERM_NONE, context });
    return rejected ?? { accepted: true };
  }

  /** Asks the leader to hand leadership to `transferee` (thesis §3.10); followers forward it. */
  transferLeader(transferee: NodeId): TransferLeaderResult {
    const rejected = this.raft.step({ type: "transferLeader", from: this.raft.id, to: this.raft.id, term: TERM_NONE, transferee });
    return rejected ?? { accepted: true };
  }

  hasReady(): boolean {
    if (this.readyInProgress !== undefined) return false;
    const raft = this.raft;
    return (
      raft.hasPendingFlush() ||
      !isSoftStateEqual(raft.softState(), this.previousSoftState) ||
      !isHardStateEqual(raft.hardState(), this.previousHardState) ||
      !raft.log.unstable.isEmpty ||
      raft.log.pendingSnapshot() !== undefined ||
      raft.messagesAfterPersist.length > 0 ||
      raft.messagesImmediate.length > 0 ||
      raft.snapshotsToSend.length > 0 ||
      raft.log.hasNextCommittedEntries() ||
      raft.readStates.length > 0
    );
  }

  /** Whether a snapshot the node accepted waits to be handed out in a Ready (a stale one is answered, not kept). */
  hasPendingSnapshot(): boolean {
    return this.raft.log.pendingSnapshot() !== undefined;
  }

  /** Takes the next batch of work, or undefined if there is none. Call `advance` before the next `ready`. */
  ready(): Ready | undefined {
    assert(this.readyInProgress === undefined, "ready() called again before advance()");
    this.raft.flush();
    if (!this.hasReady()) return undefined;
    const raft = this.raft;
    const softState = raft.softState();
    const hardState = raft.hardState();
    const hardStateChanged = !isHardStateEqual(hardState, this.previousHardState);
    const entries = [...raft.log.unstable.entries];
    const snapshot = raft.log.pendingSnapshot();
    const messages = raft.takeMessages();
    const ready: Ready = {
      softState: isSoftStateEqual(softState, this.previousSoftState) ? undefined : softState,
      hardState: hardStateChanged ? hardState : undefined,
      snapshot,
      entries,
      messages: messages.afterPersist,
      immediateMessages: messages.immediate,
      snapshotsToSend: raft.takeSnapshotsToSend(),
      committedEntries: raft.log.nextCommittedEntries(raft.config.committedEntriesPerReadyBytesMax),
      readStates: raft.takeReadStates(),
      mustSync: entries.length > 0 || snapshot !== undefined || (hardStateChanged && this.termOrVoteChanged(hardState)),
    };
    this.previousSoftState = softState;
    this.previousHardState = hardState;
    this.readyInProgress = ready;
    return ready;
  }

  /**
   * Term and vote must be durable before any message that depends on them
   * leaves (paper Figure 2); a commit index alone need not be (it is learned
   * again from the leader).
   */
  private termOrVoteChanged(hardState: HardState): boolean {
    if (this.raft.bugs.voteWithoutSync === true) return false;
    return hardState.term !== this.previousHardState.term || hardState.vote !== this.previousHardState.vote;
  }

  /** The host finished every step of `ready` (persisted, sent, applied). */
  advance(ready: Ready): void {
    assert(this.readyInProgress === ready, "advance() must be given the Ready from the last ready()");
    this.readyInProgress = undefined;
    // The snapshot first: the entries of the same Ready follow it.
    if (ready.snapshot !== undefined) this.raft.log.stableSnapshotTo(ready.snapshot.index);
    const lastEntry = ready.entries[ready.entries.length - 1];
    if (lastEntry !== undefined) {
      this.raft.log.stableTo(lastEntry.index, lastEntry.term);
      this.raft.onPersisted(lastEntry.index, lastEntry.term);
    }
    const hardState = ready.hardState;
    if (hardState !== undefined && hardState.vote === this.raft.id) this.raft.onSelfVotePersisted(hardState.term);
    const lastApplied = ready.committedEntries[ready.committedEntries.length - 1];
    if (lastApplied !== undefined) {
      this.raft.log.appliedTo(lastApplied.index);
      this.raft.reduceUncommittedBytes(payloadBytes(ready.committedEntries));
    }
  }

  status(): RaftStatus {
    const raft = this.raft;
    const view = (ids: readonly NodeId[]): FollowerStatus[] =>
      raft.role !== "leader"
        ? []
        : ids.map((id) => {
            const p = raft.tracker.progress(id);
            return { id, match: p.match, next: p.next, state: p.state };
          });
    return {
      voters: raft.tracker.voters,
      learners: raft.tracker.learners,
      learnerProgress: view(raft.tracker.learners),
      id: raft.id,
      role: raft.role,
      term: raft.term,
      vote: raft.vote,
      lead: raft.lead,
      commit: raft.log.committed,
      applied: raft.log.applied,
      lastIndex: raft.log.lastIndex(),
      leadTransferee: raft.leadTransferee,
      progress: view(raft.tracker.voters),
    };
  }

  /** Term of the entry at `index` in this node's log (persisted or not), or undefined. For checkers and tests. */
  termAt(index: LogIndex): Term | undefined {
    return this.raft.log.term(index);
  }
}

function isSoftStateEqual(a: SoftState, b: SoftState): boolean {
  return a.lead === b.lead && a.role === b.role;
}
