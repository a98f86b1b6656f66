import { assert } from "../assert.js";
import type { LogIndex } from "../types.js";
import { Inflights } from "./inflights.js";

/**
 * - probe: the leader does not know where the follower's log matches; it sends
 *   one AppendEntries per heartbeat interval and waits for the answer.
 * - replicate: the follower is caught up to `match`; the leader streams entries
 *   optimistically (pipelining), bounded by the inflight window.
 * - snapshot: the follower needs entries the leader compacted away; the host is
 *   sending it a snapshot, and appends wait until it is installed or reported
 *   as failed (thesis §5.3).
 */
export type ProgressState = "probe" | "replicate" | "snapshot";

/**
 * The leader's view of one follower (paper Figure 2, nextIndex/matchIndex).
 * Invariant: match < next.
 */
export class Progress {
  match: LogIndex;
  next: LogIndex;
  state: ProgressState = "probe";
  /** In probe state: an AppendEntries is outstanding, so wait (one probe at a time). */
  probeSent = false;
  /** Heard from this follower since the last CheckQuorum (thesis §6.2). */
  recentActive = false;
  /** Highest ReadIndex round this follower acknowledged in the current term. */
  readRoundAcked = 0;
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0 as LogIndex;
  readonly inflights: Inflights;

  constructor(next: LogIndex, inflightMessagesMax: number) {
    this.match = 0 as LogIndex;
    this.next = next;
    this.inflights = new Inflights(inflightMessagesMax);
    this.checkInvariant();
  }

  private checkInvariant(): void {
    assert(this.match < this.next, "progress invariant: match < next");
  }

  /**
   * Leaving the snapshot state, probing resumes after the snapshot if it was
   * sent (the follower most likely holds it now), else after `match`.
   */
  becomeProbe(): void {
    const after = this.state === "snapshot" ? Math.max(this.match, this.pendingSnapshot) : this.match;
    this.state = "probe";
    this.probeSent = false;
    this.pendingSnapshot = 0 as LogIndex;
    this.next = (after + 1) as LogIndex;
    this.inflights.reset();
    this.checkInvariant();
  }

  becomeReplicate(): void {
    this.state = "replicate";
    this.probeSent = false;
    this.pendingSnapshot = 0 as LogIndex;
    this.next = (this.match + 1) as LogIndex;
    this.inflights.reset();
  }

  /** The host starts sending the follower a snapshot at `index`. */
  becomeSnapshot(index: LogIndex): void {
    assert(index > this.match, "a snapshot is sent only to a follower that lacks it");
    this.state = "snapshot";
    this.probeSent = false;
    this.pendingSnapshot = index;
    this.inflights.reset();
  }

  /** The follower acknowledged `index`. Returns true if that is news. */
  maybeUpdate(index: LogIndex): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      this.probeSent = false;
      updated = true;
    }
    if (this.next < index + 1) this.next = (index + 1) as LogIndex;
    this.checkInvariant();
    return updated;
  }

  /**
   * The follower rejected an append after `rejected`; back off to `hintNext`.
   * Returns false for stale rejections (answers to messages sent before a
   * previous back-off), which must not move `next` again.
   */
  maybeDecrTo(rejected: LogIndex, hintNext: LogIndex): boolean {
    // Answers to appends sent before the snapshot say nothing new.
    if (this.state === "snapshot") return false;
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = (this.match + 1) as LogIndex;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hintNext), this.match + 1, 1) as LogIndex;
    this.probeSent = false;
    this.checkInvariant();
    return true;
  }

  /** Records an AppendEntries ending at `lastIndex` with `entryCount` entries. */
  sentEntries(lastIndex: LogIndex, entryCount: number): void {
    if (this.state === "replicate") {
      if (entryCount > 0) {
        this.inflights.add(lastIndex);
        this.next = (lastIndex + 1) as LogIndex;
      }
    } else {
      this.probeSent = true;
    }
    this.checkInvariant();
  }

  isPaused(): boolean {
    if (this.state === "snapshot") return true;
    return this.state === "probe" ? this.probeSent : this.inflights.full();
  }
}
