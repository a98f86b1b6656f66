import type { LogIndex, NodeId, Term } from "./types.js";
import { INDEX_NONE, TERM_NONE, compareNodeIds } from "./types.js";
import { varintBytes } from "./varint.js";

/**
 * A group's membership: who votes and who only receives the log (learners).
 * Both lists are sorted and disjoint. Learners are never counted in a quorum
 * (thesis §4.2.1: new servers join without voting rights until caught up).
 */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export const EMPTY_CONF_STATE: ConfState = { voters: [], learners: [] };

/**
 * What a state-machine snapshot stands for: every entry up to `index` (whose
 * term was `term`) applied, and the configuration in force at `index`, which
 * the log no longer holds once it is compacted (thesis §5.1, §4.1).
 */
export interface SnapshotMetadata {
  readonly index: LogIndex;
  readonly term: Term;
  readonly confState: ConfState;
}

/** No snapshot: the log starts at index 1. */
export const EMPTY_SNAPSHOT: SnapshotMetadata = { index: INDEX_NONE, term: TERM_NONE, confState: EMPTY_CONF_STATE };

export function isConfStateEqual(a: ConfState, b: ConfState): boolean {
  return sameIds(a.voters, b.voters) && sameIds(a.learners, b.learners);
}

function sameIds(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

/** A ConfState with both lists sorted, after checking they are disjoint and free of duplicates. */
export function normalizeConfState(voters: readonly NodeId[], learners: readonly NodeId[]): ConfState | string {
  const sortedVoters = [...voters].sort(compareNodeIds);
  const sortedLearners = [...learners].sort(compareNodeIds);
  if (new Set(sortedVoters).size !== sortedVoters.length) return "voters contains duplicates";
  if (new Set(sortedLearners).size !== sortedLearners.length) return "learners contains duplicates";
  for (const id of sortedLearners) if (sortedVoters.includes(id)) return `${id} is both a voter and a learner`;
  for (const id of [...sortedVoters, ...sortedLearners]) {
    if (typeof id !== "string" || id.length === 0) return "node ids must be non-empty strings";
  }
  return { voters: sortedVoters, learners: sortedLearners };
}

export function describeConfState(conf: ConfState): string {
  return `voters=[${conf.voters.join(",")}] learners=[${conf.learners.join(",")}]`;
}

/**
 * Largest membership, encoded as the write-ahead log stores it at snapshot points and
 * checkpoints (each list's count, then each id's length and UTF-8 bytes), that a group
 * may have: a leader refuses a change past it, and the WAL reserves it per group.
 */
export const MEMBERSHIP_BYTES_MAX = 512;

const utf8 = new TextEncoder();

/** A membership's encoded size in the write-ahead log (see MEMBERSHIP_BYTES_MAX). */
export function membershipBytes(conf: ConfState): number {
  let bytes = 0;
  for (const list of [conf.voters, conf.learners]) {
    bytes += varintBytes(list.length);
    for (const id of list) {
      const length = utf8.encode(id).byteLength;
      bytes += varintBytes(length) + length;
    }
  }
  return bytes;
}
