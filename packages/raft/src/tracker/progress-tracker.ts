import { assert } from "../assert.js";
import type { ConfState } from "../conf-state.js";
import type { VoteResult } from "../quorum/majority.js";
import { quorumSize, quorumValue, voteResult } from "../quorum/majority.js";
import type { LogIndex, NodeId } from "../types.js";
import { compareNodeIds } from "../types.js";
import { Progress } from "./progress.js";

/**
 * Per-member progress and votes for one group. Members are voters and
 * learners; learners receive the log but never count toward a quorum or an
 * election (thesis §4.2.1). Lists are kept in sorted order, and every loop
 * walks that order, so behaviour depends only on inputs.
 */
export class ProgressTracker {
  voters: readonly NodeId[] = [];
  learners: readonly NodeId[] = [];
  /** Voters, then learners. */
  members: readonly NodeId[] = [];
  private readonly progressById = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();
  private readonly inflightMessagesMax: number;
  /** Reused for quorum computations, which run on every acknowledgement. */
  private scratch: number[] = [];

  constructor(conf: ConfState, inflightMessagesMax: number) {
    this.inflightMessagesMax = inflightMessagesMax;
    this.applyConf(conf, 1 as LogIndex);
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  isLearner(id: NodeId): boolean {
    return this.learners.includes(id);
  }

  isMember(id: NodeId): boolean {
    return this.progressById.has(id);
  }

  quorum(): number {
    return quorumSize(this.voters.length);
  }

  /**
   * Switches to a new configuration. Members that stay keep their progress;
   * new members start probing at `next`; removed members are forgotten.
   */
  applyConf(conf: ConfState, next: LogIndex): void {
    this.voters = [...conf.voters].sort(compareNodeIds);
    this.learners = [...conf.learners].sort(compareNodeIds);
    this.members = [...this.voters, ...this.learners];
    assert(new Set(this.members).size === this.members.length, "a node is either a voter or a learner");
    for (const id of [...this.progressById.keys()]) if (!this.members.includes(id)) this.progressById.delete(id);
    for (const id of this.members) if (!this.progressById.has(id)) this.progressById.set(id, new Progress(next, this.inflightMessagesMax));
    for (const id of [...this.votes.keys()]) if (!this.voters.includes(id)) this.votes.delete(id);
    this.scratch = new Array<number>(this.voters.length).fill(0);
  }

  /** Fresh progress for every member, as a new term starts (paper Figure 2: nextIndex = last log index + 1). */
  reset(next: LogIndex): void {
    for (const id of this.members) this.progressById.set(id, new Progress(next, this.inflightMessagesMax));
  }

  progress(id: NodeId): Progress {
    const progress = this.progressById.get(id);
    assert(progress !== undefined, "progress requested for a non-member");
    return progress;
  }

  /** Progress of `id` if it is a member (messages may come from nodes that are not). */
  maybeProgress(id: NodeId): Progress | undefined {
    return this.progressById.get(id);
  }

  /** Highest index replicated on a quorum of voters (paper §5.3); 0 with no voters. */
  committedIndex(): LogIndex {
    if (this.voters.length === 0) return 0 as LogIndex;
    const values = this.scratch;
    for (let i = 0; i < this.voters.length; i += 1) values[i] = this.progress(this.voters[i]!).match;
    return quorumValue(values) as LogIndex;
  }

  /** Newest ReadIndex round a quorum of voters acknowledged (thesis §6.4). */
  confirmedReadRound(): number {
    if (this.voters.length === 0) return 0;
    const values = this.scratch;
    for (let i = 0; i < this.voters.length; i += 1) values[i] = this.progress(this.voters[i]!).readRoundAcked;
    return quorumValue(values);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records the first answer from each voter; later duplicates, and answers from non-voters, are ignored. */
  recordVote(id: NodeId, granted: boolean): void {
    if (this.isVoter(id) && !this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const vote = this.votes.get(id);
      if (vote === true) granted += 1;
      else if (vote === false) rejected += 1;
    }
    return { granted, rejected, result: voteResult(this.voters.length, granted, rejected) };
  }

  /** CheckQuorum: were a quorum of voters (counting `self` if it is one) heard from since the last check? */
  quorumActive(self: NodeId): boolean {
    let active = 0;
    for (const id of this.voters) if (id === self || this.progress(id).recentActive) active += 1;
    return active >= this.quorum();
  }

  clearRecentActive(self: NodeId): void {
    for (const id of this.members) this.progress(id).recentActive = id === self;
  }
}
