import type { ConfState } from "./conf-state.js";
import { normalizeConfState } from "./conf-state.js";
import { LEARNERS_MAX } from "./membership/conf-change.js";
import type { LogIndex, NodeId } from "./types.js";
import { INDEX_NONE } from "./types.js";

/**
 * TEST ONLY. Each switch plants a known bug so tests can prove the simulator
 * catches it. Never set any of them outside tests: each one breaks safety.
 */
export interface RaftTestingBugs {
  /** (a) Grant a vote even after voting for someone else in the same term (breaks paper §5.2). */
  readonly grantMultipleVotesPerTerm?: boolean;
  /** (b) Commit an entry of a previous term by counting its replicas (the Figure 8 bug, paper §5.4.2). */
  readonly commitPreviousTermByCounting?: boolean;
  /** (c) Acknowledge AppendEntries before the entries are persisted. */
  readonly ackAppendBeforePersist?: boolean;
  /** (d) Answer ReadIndex before the leader commits an entry of its own term (thesis §6.4 step 1). */
  readonly readIndexBeforeOwnTermCommit?: boolean;
  /**
   * (e) Treat a vote (and the term it is cast in) as not needing a sync: the
   * hard state holding it is written but not fsynced before the vote is sent
   * (Ready.mustSync stays false unless entries are written too). Power loss
   * then forgets the vote, and the restarted server may vote again in that
   * term, for someone else (breaks paper §5.2 and Figure 2: currentTerm and
   * votedFor are on stable storage before responding).
   */
  readonly voteWithoutSync?: boolean;
}

export interface RaftConfig {
  /** This node's id. */
  readonly id: NodeId;
  /**
   * The group's bootstrap voters: the membership at index 0, before any config
   * entry. Every node of the group passes the same list, including nodes that
   * join later (their log starts at index 1 too, or at a snapshot that records
   * its own membership). Membership then changes only through config entries
   * (`RaftNode.proposeConfChange`) and snapshots; this list is used only while
   * storage holds no snapshot that recorded one. A node that is not a voter in
   * the membership its log implies never campaigns.
   */
  readonly voters: readonly NodeId[];
  /** The group's bootstrap learners (thesis §4.2.1), with the same rules as `voters`. Default none. */
  readonly learners?: readonly NodeId[];
  /** Followers campaign after a random timeout in [T, 2T) ticks (paper §5.2). Default 10. */
  readonly electionTimeoutTicks?: number;
  /** Leaders send heartbeats every this many ticks. Default 1. Must be below the election timeout. */
  readonly heartbeatIntervalTicks?: number;
  /** Upper bound on the entry bytes in one AppendEntries; one entry is always sent, whatever its size. Default 1 MiB. */
  readonly messageBytesMax?: number;
  /** Largest payload one proposal may carry. Default 1 MiB. */
  readonly entryBytesMax?: number;
  /** AppendEntries messages in flight per follower in the replicate state (pipelining window). Default 256. */
  readonly inflightMessagesMax?: number;
  /** Leader drops proposals once uncommitted payload bytes exceed this. Default 64 MiB. */
  readonly uncommittedEntriesBytesMax?: number;
  /** Upper bound on committed entry bytes handed out in one Ready (at least one entry). Default 4 MiB. */
  readonly committedEntriesPerReadyBytesMax?: number;
  /** ReadIndex requests a leader queues or has in flight. Default 4096. */
  readonly pendingReadIndexRequestsMax?: number;
  /** Outbound messages queued between two Readys; exceeding it is a host bug (Ready not drained). Default 1,000,000. */
  readonly queuedMessagesMax?: number;
  /** Run a PreVote round before incrementing the term (thesis §9.6). Default true. */
  readonly preVote?: boolean;
  /** Leaders step down without quorum activity; followers honour leader leases (thesis §6.2, §4.2.3). Default true. */
  readonly checkQuorum?: boolean;
  /** On restart: the last index the host's state machine already applied. Default 0. */
  readonly appliedIndex?: LogIndex;
  /** TEST ONLY: planted bugs. See `RaftTestingBugs`. */
  readonly testingBugs?: RaftTestingBugs;
}

/** A validated config with every default filled in. */
export interface ResolvedRaftConfig {
  readonly id: NodeId;
  /** Sorted and de-duplicated, so every iteration over the group has one order. */
  readonly voters: readonly NodeId[];
  /** Sorted, de-duplicated, disjoint from `voters`. */
  readonly learners: readonly NodeId[];
  readonly electionTimeoutTicks: number;
  readonly heartbeatIntervalTicks: number;
  readonly messageBytesMax: number;
  readonly entryBytesMax: number;
  readonly inflightMessagesMax: number;
  readonly uncommittedEntriesBytesMax: number;
  readonly committedEntriesPerReadyBytesMax: number;
  readonly pendingReadIndexRequestsMax: number;
  readonly queuedMessagesMax: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly appliedIndex: LogIndex;
  readonly testingBugs: RaftTestingBugs;
}

export class RaftConfigError extends Error {
  override readonly name = "RaftConfigError";
}

/** Largest group we accept; quorum math and message fan-out are sized for small groups. */
export const VOTERS_MAX = 9;
const ELECTION_TIMEOUT_TICKS_MAX = 1_000_000;
const SIZE_BYTES_MAX = 1 << 30;
const COUNT_MAX = 1 << 24;

function checkRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RaftConfigError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
  return value;
}

function resolveMembers(voters: readonly NodeId[], learners: readonly NodeId[]): ConfState {
  if (voters.length > VOTERS_MAX) throw new RaftConfigError(`a group has at most ${VOTERS_MAX} voters, got ${voters.length}`);
  if (learners.length > LEARNERS_MAX) throw new RaftConfigError(`a group has at most ${LEARNERS_MAX} learners, got ${learners.length}`);
  const conf = normalizeConfState(voters, learners);
  if (typeof conf === "string") throw new RaftConfigError(conf);
  return conf;
}

/** Validates every limit up front so a bad setting fails at start-up with a clear message. */
export function resolveConfig(config: RaftConfig): ResolvedRaftConfig {
  if (typeof config.id !== "string" || config.id.length === 0) throw new RaftConfigError("id must be a non-empty string");
  const electionTimeoutTicks = checkRange("electionTimeoutTicks", config.electionTimeoutTicks ?? 10, 2, ELECTION_TIMEOUT_TICKS_MAX);
  const heartbeatIntervalTicks = checkRange("heartbeatIntervalTicks", config.heartbeatIntervalTicks ?? 1, 1, electionTimeoutTicks - 1);
  const messageBytesMax = checkRange("messageBytesMax", config.messageBytesMax ?? 1 << 20, 1, SIZE_BYTES_MAX);
  const members = resolveMembers(config.voters, config.learners ?? []);
  return {
    id: config.id,
    voters: members.voters,
    learners: members.learners,
    electionTimeoutTicks,
    heartbeatIntervalTicks,
    messageBytesMax,
    entryBytesMax: checkRange("entryBytesMax", config.entryBytesMax ?? 1 << 20, 0, SIZE_BYTES_MAX),
    inflightMessagesMax: checkRange("inflightMessagesMax", config.inflightMessagesMax ?? 256, 1, COUNT_MAX),
    uncommittedEntriesBytesMax: checkRange("uncommittedEntriesBytesMax", config.uncommittedEntriesBytesMax ?? 64 << 20, 1, SIZE_BYTES_MAX),
    committedEntriesPerReadyBytesMax: checkRange("committedEntriesPerReadyBytesMax", config.committedEntriesPerReadyBytesMax ?? 4 << 20, 1, SIZE_BYTES_MAX),
    pendingReadIndexRequestsMax: checkRange("pendingReadIndexRequestsMax", config.pendingReadIndexRequestsMax ?? 4096, 1, COUNT_MAX),
    queuedMessagesMax: checkRange("queuedMessagesMax", config.queuedMessagesMax ?? 1_000_000, 1, COUNT_MAX),
    preVote: config.preVote ?? true,
    checkQuorum: config.checkQuorum ?? true,
    appliedIndex: checkRange("appliedIndex", config.appliedIndex ?? INDEX_NONE, 0, Number.MAX_SAFE_INTEGER) as LogIndex,
    testingBugs: { ...config.testingBugs },
  };
}
