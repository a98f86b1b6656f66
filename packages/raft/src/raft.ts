import { assert, fail } from "./assert.js";
import type { RaftTestingBugs, ResolvedRaftConfig } from "./config.js";
import type { ConfState } from "./conf-state.js";
import { RaftConfigError } from "./config.js";
import type { EntryKind } from "./entry.js";
import { payloadBytes } from "./entry.js";
import type { HardState } from "./hard-state.js";
import type { Message, PeerMessage, SnapshotMessage, VoteMessage } from "./message.js";
import type { RandomSource } from "./random.js";
import { RaftLog } from "./raft-log.js";
import { ReadOnly } from "./read-only.js";
import type { ReadState, Role, SoftState } from "./ready.js";
import type { Dropped } from "./rejection.js";
import { stepCandidate, tickElection } from "./roles/candidate.js";
import { stepFollower } from "./roles/follower.js";
import { broadcastAppends, broadcastHeartbeats, releaseConfirmedReads, stepLeader, tickHeartbeat } from "./roles/leader.js";
import type { Storage } from "./storage.js";
import { ProgressTracker } from "./tracker/progress-tracker.js";
import type { LogIndex, NodeId, Term } from "./types.js";
import { INDEX_NONE, TERM_NONE } from "./types.js";

/** A role's message handler; returns a `Dropped` when it refuses a local request. */
export type RoleStep = (raft: Raft, message: Message) => Dropped | undefined;
export type RoleTick = (raft: Raft) => void;

type CampaignKind = "preElection" | "election" | "transfer";

/**
 * Leaders may send these before their own disk write finishes (thesis §10.2.1):
 * none of them promises anything about the leader's durable state.
 */
const LEADER_IMMEDIATE_TYPES: ReadonlySet<PeerMessage["type"]> = new Set(["app", "heartbeat", "timeoutNow", "readIndexResp"]);

/**
 * The Raft state machine. Pure: it reads its storage, but all writes, sends,
 * applies and timing belong to the host, reached through `RaftNode`'s Ready.
 *
 * Each role is a pair of handler functions (`stepRole`, `tickRole`) swapped on
 * every role change; message terms are compared once, in `step`.
 */
export class Raft {
  readonly id: NodeId;
  readonly config: ResolvedRaftConfig;
  readonly bugs: RaftTestingBugs;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  readonly readOnly: ReadOnly;
  private readonly random: RandomSource;

  term: Term = TERM_NONE;
  vote: NodeId | undefined;
  lead: NodeId | undefined;
  role: Role = "follower";
  electionElapsedTicks = 0;
  heartbeatElapsedTicks = 0;
  randomizedElectionTimeoutTicks = 0;
  /** Set while this leader hands leadership to that node (thesis §3.10). */
  leadTransferee: NodeId | undefined;
  /** Leader: the index of the empty entry it appended on election, its first of its term. */
  leaderSince: LogIndex = INDEX_NONE;
  /** Payload bytes this leader appended that are not yet handed out as committed. */
  uncommittedBytes = 0;
  /** Leader: new entries or a new commit index that followers have not been sent; flushed at the next Ready. */
  appendBroadcastPending = false;
  /** Messages to send after this Ready's persist step. */
  messagesAfterPersist: PeerMessage[] = [];
  /** Messages that may be sent before the persist step. */
  messagesImmediate: PeerMessage[] = [];
  /** Leader: snapshots the host must stream to followers (thesis §5.3). */
  snapshotsToSend: SnapshotMessage[] = [];
  readStates: ReadState[] = [];

  /** The configuration the tracker follows: the latest in the log (thesis §4.1). */
  private trackedConf: ConfState;
  private stepRole: RoleStep = stepFollower;
  private tickRole: RoleTick = tickElection;

  constructor(config: ResolvedRaftConfig, storage: Storage, random: RandomSource) {
    this.id = config.id;
    this.config = config;
    this.bugs = config.testingBugs;
    this.random = random;
    const { hardState, voters } = storage.initialState();
    if (voters.length > 0 && [...voters].sort().join(",") !== config.voters.join(",")) {
      throw new RaftConfigError(`stored voters [${voters.join(",")}] differ from configured [${config.voters.join(",")}]`);
    }
    const durableCommit = Math.max(hardState.commit, storage.snapshot().index);
    if (config.appliedIndex > durableCommit) {
      throw new RaftConfigError(`appliedIndex ${config.appliedIndex} is past the persisted commit ${durableCommit}`);
    }
    this.log = new RaftLog(storage, hardState.commit, config.appliedIndex, { voters: config.voters, learners: config.learners });
    this.trackedConf = this.log.configs.latest();
    this.tracker = new ProgressTracker(this.trackedConf, config.inflightMessagesMax);
    this.readOnly = new ReadOnly(config.pendingReadIndexRequestsMax);
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.becomeFollower(this.term, undefined);
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { lead: this.lead, role: this.role };
  }

  tick(): void {
    this.tickRole(this);
  }

  /**
   * The single entry point. Terms are compared here and only here (paper §5.1:
   * a newer term makes us a follower; an older one marks a stale message).
   * Term 0 marks local messages and requests forwarded to the leader.
   */
  step(message: Message): Dropped | undefined {
    if (message.term === TERM_NONE) {
      // Local, or forwarded (readIndex, transferLeader): no term to compare.
    } else if (message.term > this.term) {
      if (!this.onHigherTerm(message)) return undefined;
    } else if (message.term < this.term) {
      this.onLowerTerm(message);
      return undefined;
    }
    let result: Dropped | undefined;
    switch (message.type) {
      case "hup":
        this.hup(message.transfer);
        break;
      case "vote":
      case "preVote":
        this.handleVoteRequest(message);
        break;
      default:
        result = this.stepRole(this, message);
    }
    this.syncConfig();
    this.checkInvariants();
    return result;
  }

  /**
   * Follows the latest configuration in the log, committed or not (thesis
   * §4.1): a config entry takes effect when appended, and is undone when a new
   * leader overwrites it. Cheap when nothing changed (the history returns the
   * same object).
   */
  private syncConfig(): void {
    const conf = this.log.configs.latest();
    if (conf === this.trackedConf) return;
    this.trackedConf = conf;
    this.tracker.applyConf(conf, (this.log.lastIndex() + 1) as LogIndex);
    // Only followers and leaders change their logs (a candidate that hears from a leader follows it first).
    if (this.role !== "leader") return;
    if (this.leadTransferee !== undefined && !this.tracker.isVoter(this.leadTransferee)) this.abortLeaderTransfer();
    // New members need the log, and a changed quorum may commit more or confirm reads.
    this.appendBroadcastPending = true;
    const self = this.tracker.maybeProgress(this.id);
    if (self !== undefined) {
      self.maybeUpdate(this.log.persistedLastIndex());
      self.readRoundAcked = this.readOnly.lastStartedRound;
    }
    this.maybeCommit();
    releaseConfirmedReads(this);
  }

  /** Cheap invariants, checked after every step. */
  private checkInvariants(): void {
    const log = this.log;
    if (log.committed > log.lastIndex()) fail(`commit ${log.committed} is past the last index ${log.lastIndex()}`);
    if (log.applied > log.committed) fail(`applied ${log.applied} is past the commit index ${log.committed}`);
    // Paper §5.2: a candidate votes for itself, and a leader won with that vote. (The planted
    // double-vote bug switches this off with the one-vote assertion, so the simulator must catch it.)
    if ((this.role === "leader" || this.role === "candidate") && this.bugs.grantMultipleVotesPerTerm !== true) {
      if (this.vote !== this.id) fail(`${this.role} ${this.id} did not vote for itself in term ${this.term}`);
    }
    if (this.role === "leader") {
      if (this.lead !== this.id) fail("a leader must know itself as leader");
      const self = this.tracker.maybeProgress(this.id);
      if (self !== undefined && self.match > this.log.persistedLastIndex()) fail("a leader counted entries it has not persisted");
      // Thesis §4.1: a leader appends a membership change only once the previous one committed.
      // Its own entries follow its empty entry; what precedes it an earlier leader wrote, and
      // a crash may have lost how much of that is committed (the commit index is not synced).
      const ownFrom = Math.max(this.log.committed, this.leaderSince - 1) as LogIndex;
      if (this.log.configs.countAbove(ownFrom) > 1) fail("more than one uncommitted membership change in a leader's log");
    }
  }

  /** Returns false if the message must be ignored. */
  private onHigherTerm(message: Message): boolean {
    if (message.type === "vote" || message.type === "preVote") {
      // Leader lease (thesis §4.2.3, §9.6): while we hear from a live leader,
      // ignore campaigns, unless the leader itself asked for one (transfer).
      const inLease = this.config.checkQuorum && this.lead !== undefined && this.electionElapsedTicks < this.config.electionTimeoutTicks;
      if (inLease && !message.transfer) return false;
      // A PreVote never changes our term: the sender has not started that term.
      if (message.type === "preVote") return true;
    }
    // A granted PreVote carries the future term the pre-candidate asked about.
    if (message.type === "preVoteResp" && !message.reject) return true;
    const fromLeader = message.type === "app" || message.type === "heartbeat" || message.type === "snapshot";
    this.becomeFollower(message.term, fromLeader ? message.from : undefined);
    return true;
  }

  private onLowerTerm(message: Message): void {
    const fromLeader = message.type === "app" || message.type === "heartbeat" || message.type === "snapshot";
    if ((this.config.checkQuorum || this.config.preVote) && fromLeader) {
      // A stale leader (e.g. just reconnected) would otherwise never learn our
      // term; with PreVote/CheckQuorum we might never force it by campaigning.
      this.send({
        type: "appResp",
        from: this.id,
        to: message.from,
        term: this.term,
        index: 0 as LogIndex,
        reject: false,
        conflictTerm: TERM_NONE,
        conflictIndex: 0 as LogIndex,
      });
    } else if (message.type === "preVote") {
      // Tell the pre-candidate our newer term so it can catch up.
      this.send({ type: "preVoteResp", from: this.id, to: message.from, term: this.term, reject: true });
    }
  }

  /** RequestVote receiver rules (paper Figure 2, §5.2, §5.4.1). */
  private handleVoteRequest(message: VoteMessage): void {
    const responseType = message.type === "vote" ? "voteResp" : "preVoteResp";
    const canVote =
      this.vote === message.from ||
      (this.vote === undefined && this.lead === undefined) ||
      (message.type === "preVote" && message.term > this.term) ||
      (message.type === "vote" && this.bugs.grantMultipleVotesPerTerm === true);
    if (canVote && this.log.isUpToDate(message.lastLogIndex, message.lastLogTerm)) {
      // A granted PreVote answers with the term asked about, so the pre-candidate counts it.
      this.send({ type: responseType, from: this.id, to: message.from, term: message.term, reject: false });
      if (message.type === "vote") {
        this.electionElapsedTicks = 0;
        this.recordVote(message.from);
      }
    } else {
      this.send({ type: responseType, from: this.id, to: message.from, term: this.term, reject: true });
    }
  }

  /** At most one vote per term (paper §5.2, Election Safety). */
  private recordVote(candidate: NodeId): void {
    if (this.bugs.grantMultipleVotesPerTerm !== true) {
      assert(this.vote === undefined || this.vote === candidate, "one vote per term");
    }
    this.vote = candidate;
  }

  /** Starts an election if this node may (paper §5.2). PreVote first unless this is a transfer. */
  hup(transfer: boolean): void {
    if (this.role === "leader") return;
    if (!this.canCampaign()) return;
    if (transfer) this.campaign("transfer");
    else this.campaign(this.config.preVote ? "preElection" : "election");
  }

  /**
   * Thesis §4.1: a voter of the latest configuration campaigns, and so does a
   * server that the latest configuration removed while that change is not
   * committed: it may still be needed to elect the leader that commits it
   * (otherwise a removed leader's change could stall, with the only server
   * holding it refusing to campaign). Learners never campaign.
   */
  canCampaign(): boolean {
    if (this.tracker.isVoter(this.id)) return true;
    const configs = this.log.configs;
    return configs.latestIndex() > this.log.committed && configs.at(this.log.committed).voters.includes(this.id);
  }

  private campaign(kind: CampaignKind): void {
    let voteType: "vote" | "preVote";
    let term: Term;
    if (kind === "preElection") {
      this.becomePreCandidate();
      voteType = "preVote";
      term = (this.term + 1) as Term; // ask about the next term without entering it
    } else {
      this.becomeCandidate();
      voteType = "vote";
      term = this.term;
    }
    // A PreVote changes nothing durable, so our own pre-vote counts at once. A real
    // vote counts only once it is durable (`onSelfVotePersisted`): a vote lost in a
    // crash could be cast again in the same term, for someone else (paper §5.2).
    // It matters when we win alone (a one-voter configuration); otherwise the
    // peers' answers come after our vote requests, which leave after the persist.
    if (kind === "preElection" && this.poll(this.id, true) === "won") return;
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    for (const id of this.tracker.voters) {
      if (id === this.id) continue;
      this.send({ type: voteType, from: this.id, to: id, term, lastLogIndex, lastLogTerm, transfer: kind === "transfer" });
    }
  }

  /** The host persisted a hard state of `term` holding our vote for ourselves: now it counts. */
  onSelfVotePersisted(term: Term): void {
    if (this.role !== "candidate" || term !== this.term || this.vote !== this.id) return;
    this.poll(this.id, true);
    this.syncConfig();
    this.checkInvariants();
  }

  /** Records a (pre)vote and acts on the outcome. */
  poll(from: NodeId, granted: boolean): "won" | "lost" | "pending" {
    this.tracker.recordVote(from, granted);
    const { result } = this.tracker.tallyVotes();
    if (result === "won") {
      if (this.role === "preCandidate") this.campaign("election");
      else this.becomeLeader();
    } else if (result === "lost") {
      // Back to follower in our current term; the vote we cast (if any) stands.
      this.becomeFollower(this.term, undefined);
    }
    return result;
  }

  /** Clears per-term volatile state. The term never decreases (paper §5.1). */
  private reset(term: Term): void {
    if (this.term !== term) {
      assert(term > this.term, "terms never decrease");
      this.term = term;
      this.vote = undefined;
    }
    this.lead = undefined;
    this.electionElapsedTicks = 0;
    this.heartbeatElapsedTicks = 0;
    this.randomizedElectionTimeoutTicks = this.config.electionTimeoutTicks + this.random.nextInt(this.config.electionTimeoutTicks);
    this.leadTransferee = undefined;
    this.tracker.resetVotes();
    this.tracker.reset((this.log.lastIndex() + 1) as LogIndex);
    // We count our own log toward a quorum only once it is durable.
    this.tracker.maybeProgress(this.id)?.maybeUpdate(this.log.persistedLastIndex());
    this.readOnly.reset();
    this.uncommittedBytes = 0;
    this.appendBroadcastPending = false;
  }

  becomeFollower(term: Term, lead: NodeId | undefined): void {
    this.reset(term);
    this.lead = lead;
    this.role = "follower";
    this.stepRole = stepFollower;
    this.tickRole = tickElection;
  }

  private becomePreCandidate(): void {
    assert(this.role !== "leader", "a leader never becomes a pre-candidate");
    // Term and vote stay: a PreVote round changes nothing durable (thesis §9.6).
    this.tracker.resetVotes();
    this.lead = undefined;
    this.role = "preCandidate";
    this.stepRole = stepCandidate;
    this.tickRole = tickElection;
  }

  private becomeCandidate(): void {
    assert(this.role !== "leader", "a leader never becomes a candidate");
    assert(this.canCampaign(), "only a voter (or a server whose removal is uncommitted) campaigns");
    this.reset((this.term + 1) as Term);
    this.recordVote(this.id);
    this.role = "candidate";
    this.stepRole = stepCandidate;
    this.tickRole = tickElection;
  }

  private becomeLeader(): void {
    assert(this.role === "candidate", "only a candidate becomes leader");
    this.reset(this.term);
    this.lead = this.id;
    this.role = "leader";
    this.stepRole = stepLeader;
    this.tickRole = tickHeartbeat;
    // Not a member if the latest configuration removed us (thesis §4.2.2): we lead until that commits.
    this.tracker.maybeProgress(this.id)?.becomeReplicate();
    this.uncommittedBytes = this.inheritedBacklogBytes();
    // Paper §5.4.2 / §8: commit an entry of our own term to learn the commit
    // index, which also unblocks ReadIndex (thesis §6.4).
    this.leaderSince = (this.log.lastIndex() + 1) as LogIndex;
    this.appendEntry("noop", new Uint8Array(0));
  }

  /**
   * Payload bytes of the entries we hold but have not applied: earlier leaders'
   * proposals that may still commit. Counting them against
   * uncommittedEntriesBytesMax keeps the group's backlog bounded across
   * leader changes, not only within one term.
   */
  private inheritedBacklogBytes(): number {
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex()) as LogIndex;
    const hi = (this.log.lastIndex() + 1) as LogIndex;
    return lo < hi ? payloadBytes(this.log.entries(lo, hi, Number.MAX_SAFE_INTEGER)) : 0;
  }

  /** Leader only: appends one entry to its own log; followers receive it at the next flush. */
  appendEntry(kind: EntryKind, data: Uint8Array): LogIndex {
    assert(this.role === "leader", "only a leader appends new entries");
    const index = (this.log.lastIndex() + 1) as LogIndex;
    this.log.append([{ term: this.term, index, kind, data }]);
    this.uncommittedBytes += data.byteLength;
    this.appendBroadcastPending = true;
    return index;
  }

  /** The host persisted the log through (index, term). A leader now counts itself (thesis §10.2.1). */
  onPersisted(index: LogIndex, term: Term): void {
    if (this.role !== "leader" || this.log.term(index) !== term) return;
    if (this.tracker.maybeProgress(this.id)?.maybeUpdate(index) === true) this.maybeCommit();
  }

  /**
   * Commits the highest index replicated on a quorum, but only if it belongs
   * to the current term (paper §5.4.2: older entries commit indirectly).
   */
  maybeCommit(): boolean {
    const allowOlderTerm = this.bugs.commitPreviousTermByCounting === true;
    if (!this.log.maybeCommit(this.tracker.committedIndex(), this.term, allowOlderTerm)) return false;
    this.appendBroadcastPending = true; // followers learn the new commit index
    if (this.committedEntryInCurrentTerm()) this.readOnly.registerWaiting(this.log.committed);
    return true;
  }

  committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  reduceUncommittedBytes(bytes: number): void {
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - bytes);
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = undefined;
  }

  /** True if `flush` has work: batched appends, a ReadIndex round to start, or stepping down. */
  hasPendingFlush(): boolean {
    return this.role === "leader" && (this.appendBroadcastPending || this.readOnly.hasUnstartedRound() || this.removedAndCommitted());
  }

  /**
   * Thesis §4.2.2: a leader removed from the configuration keeps leading
   * (without counting itself) until the change commits, then steps down.
   */
  private removedAndCommitted(): boolean {
    return !this.tracker.isVoter(this.id) && this.log.committed >= this.log.configs.latestIndex();
  }

  /**
   * Called after the commit index went out with this flush's appends. To spare
   * the group an election timeout, hand leadership to a voter that holds our
   * whole log (as in a transfer, thesis §3.10).
   */
  private stepDownRemoved(): void {
    const last = this.log.lastIndex();
    const successor = this.tracker.voters.find((id) => this.tracker.progress(id).match === last);
    if (successor !== undefined) this.send({ type: "timeoutNow", from: this.id, to: successor, term: this.term });
    this.becomeFollower(this.term, undefined);
  }

  /**
   * Sends what proposals and acknowledgements left pending since the last
   * Ready: one append per follower for the whole batch, and one heartbeat
   * round for every ReadIndex request that arrived meanwhile.
   */
  flush(): void {
    if (this.role !== "leader") return;
    if (this.appendBroadcastPending) {
      this.appendBroadcastPending = false;
      broadcastAppends(this);
    }
    if (this.removedAndCommitted()) {
      this.stepDownRemoved();
      return;
    }
    if (this.readOnly.hasUnstartedRound()) {
      const round = this.readOnly.startRound();
      const self = this.tracker.maybeProgress(this.id);
      if (self !== undefined) self.readRoundAcked = round;
      broadcastHeartbeats(this, round);
      releaseConfirmedReads(this);
    }
  }

  /** Leader: queues a snapshot for the host to send. It promises nothing about our disk, so it may leave at once. */
  sendSnapshot(message: SnapshotMessage): void {
    assert(this.role === "leader", "only a leader sends snapshots");
    this.checkQueueRoom();
    this.snapshotsToSend.push(message);
  }

  /** The membership in force at `index` (at or after the log's start). */
  confStateAt(index: LogIndex): ConfState {
    return this.log.configs.at(index);
  }

  /** InstallSnapshot receiver (thesis §5.3): the snapshot replaces our log. */
  restoreSnapshot(message: SnapshotMessage): void {
    assert(this.role === "follower", "only a follower installs a snapshot");
    this.log.restore(message.snapshot);
  }

  private checkQueueRoom(): void {
    if (this.messagesAfterPersist.length + this.messagesImmediate.length + this.snapshotsToSend.length >= this.config.queuedMessagesMax) {
      fail(`more than queuedMessagesMax (${this.config.queuedMessagesMax}) outbound messages: the host is not draining Ready`);
    }
  }

  send(message: PeerMessage): void {
    this.checkQueueRoom();
    const immediate =
      (this.role === "leader" && LEADER_IMMEDIATE_TYPES.has(message.type)) || (message.type === "appResp" && this.bugs.ackAppendBeforePersist === true);
    if (immediate) this.messagesImmediate.push(message);
    else this.messagesAfterPersist.push(message);
  }

  takeMessages(): { afterPersist: PeerMessage[]; immediate: PeerMessage[] } {
    const result = { afterPersist: this.messagesAfterPersist, immediate: this.messagesImmediate };
    this.messagesAfterPersist = [];
    this.messagesImmediate = [];
    return result;
  }

  takeSnapshotsToSend(): SnapshotMessage[] {
    const result = this.snapshotsToSend;
    this.snapshotsToSend = [];
    return result;
  }

  takeReadStates(): ReadState[] {
    const result = this.readStates;
    this.readStates = [];
    return result;
  }
}
