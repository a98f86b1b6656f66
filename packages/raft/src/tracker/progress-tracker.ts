import { assert } from "../assert.js";
import type { VoteResult } from "../quorum/majority.js";
import { quorumSize, quorumValue, voteResult } from "../quorum/majority.js";
import type { LogIndex, NodeId } from "../types.js";
import { Progress } from "./progress.js";

/**
 * Per-voter progress and votes for one group. Voters are kept in sorted order,
 * and every loop walks that order, so behaviour depends only on inputs.
 */
export class ProgressTracker {
  readonly voters: readonly NodeId[];
  private readonly progressById = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();
  private readonly maxInflightMsgs: number;
  /** Reused for quorum computations, which run on every acknowledgement. */
  private readonly scratch: number[];

  constructor(voters: readonly NodeId[], maxInflightMsgs: number) {
    this.voters = voters;
    this.scratch = new Array<number>(voters.length).fill(0);
    this.maxInflightMsgs = maxInflightMsgs;
    this.reset(1 as LogIndex);
  }

  isVoter(id: NodeId): boolean {
    return this.progressById.has(id);
  }

  quorum(): number {
    return quorumSize(this.voters.length);
  }

  /** Fresh progress for every voter, as a new term starts (paper Figure 2: nextIndex = last log index + 1). */
  reset(next: LogIndex): void {
    for (const id of this.voters) this.progressById.set(id, new Progress(next, this.maxInflightMsgs));
  }

  progress(id: NodeId): Progress {
    const progress = this.progressById.get(id);
    assert(progress !== undefined, "progress requested for a non-voter");
    return progress;
  }

  /** Highest index replicated on a quorum (paper §5.3). */
  committedIndex(): LogIndex {
    const values = this.scratch;
    for (let i = 0; i < this.voters.length; i += 1) values[i] = this.progress(this.voters[i]!).match;
    return quorumValue(values) as LogIndex;
  }

  /** Newest ReadIndex round a quorum acknowledged (thesis §6.4). */
  confirmedReadRound(): number {
    const values = this.scratch;
    for (let i = 0; i < this.voters.length; i += 1) values[i] = this.progress(this.voters[i]!).readRoundAcked;
    return quorumValue(values);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records the first answer from each voter; later duplicates are ignored. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
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

  /** CheckQuorum: were a quorum of voters (counting `self`) heard from since the last check? */
  quorumActive(self: NodeId): boolean {
    let active = 0;
    for (const id of this.voters) if (id === self || this.progress(id).recentActive) active += 1;
    return active >= this.quorum();
  }

  clearRecentActive(self: NodeId): void {
    for (const id of this.voters) this.progress(id).recentActive = id === self;
  }
}
