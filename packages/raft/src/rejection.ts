import type { LogIndex, NodeId, Term } from "./types.js";

/**
 * Why the core refused a request. Operating errors, not bugs: the host reports
 * them to the client, which may retry (at `leaderHint` when known).
 */
export type DropReason =
  /** This node is not the leader; `leaderHint` names the leader if known. */
  | "not-leader"
  /** The leader is handing over leadership (thesis §3.10); retry at `leaderHint`. */
  | "transferring-leadership"
  /** Uncommitted entries already hold `uncommittedEntriesBytesMax`. */
  | "uncommitted-limit"
  /** The payload exceeds `entryBytesMax`. */
  | "entry-too-large"
  /** The leader already holds `pendingReadIndexRequestsMax` reads. */
  | "read-queue-full"
  /** The named node is not a voter of this group. */
  | "not-a-voter"
  /**
   * A membership change is still uncommitted, or this leader has not yet
   * committed an entry of its own term: one change at a time (thesis §4.1).
   * Retry once it commits.
   */
  | "config-change-pending"
  /** The membership change does not apply to the current membership; `detail` says why. */
  | "invalid-config-change";

export interface Dropped {
  readonly accepted: false;
  readonly reason: DropReason;
  readonly leaderHint: NodeId | undefined;
  /** A readable explanation, for some reasons. */
  readonly detail?: string;
}

/** The leader appended the proposal at (term, index). It is committed once applied there with that term. */
export interface ProposalAccepted {
  readonly accepted: true;
  readonly term: Term;
  readonly index: LogIndex;
}

export type ProposeResult = ProposalAccepted | Dropped;

/** Accepted: queued on the leader or forwarded to it; the answer arrives as a ReadState (or never: use a timeout). */
export type ReadIndexResult = { readonly accepted: true } | Dropped;

/** Accepted: started on the leader or forwarded to it; completion shows as a new leader. */
export type TransferLeaderResult = { readonly accepted: true } | Dropped;

export function dropped(reason: DropReason, leaderHint: NodeId | undefined, detail?: string): Dropped {
  return detail === undefined ? { accepted: false, reason, leaderHint } : { accepted: false, reason, leaderHint, detail };
}

/** For hosts that prefer exceptions: wraps a `Dropped` result. */
export class ProposalDroppedError extends Error {
  override readonly name = "ProposalDroppedError";
  readonly reason: DropReason;
  readonly leaderHint: NodeId | undefined;

  constructor(result: Dropped) {
    super(`proposal dropped: ${result.reason}${result.leaderHint === undefined ? "" : ` (leader ${result.leaderHint})`}`);
    this.reason = result.reason;
    this.leaderHint = result.leaderHint;
  }
}
