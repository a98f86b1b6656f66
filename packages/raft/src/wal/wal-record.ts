import type { ConfState } from "../conf-state.js";
import { MEMBERSHIP_BYTES_MAX } from "../conf-state.js";
import type { Entry } from "../entry.js";
import type { HardState } from "../hard-state.js";
import type { LogIndex, Term } from "../types.js";
import type { GroupId } from "./group-id.js";

/**
 * On-disk framing of one record (all integers little-endian):
 *
 *   offset 0  u32  bodyBytes     length of the body
 *   offset 4  u32  bodyCrc       CRC-32 of the body
 *   offset 8  u32  headerCrc     CRC-32 of bytes 0..8
 *   offset 12 body               type byte, then the payload of that type
 *
 * The header has its own checksum so a damaged length is caught as corruption
 * rather than read as "the record runs past the end of the file", which would
 * look like a torn tail and silently drop everything after it.
 */
export const RECORD_HEADER_BYTES = 12;

/** The type byte that starts every body. Values are part of the format: never reuse one. */
export const RECORD_TYPE = {
  /** First record of each segment: format version, segment number and every live group's state. */
  checkpoint: 1,
  /** A run of a group's entries with consecutive indexes; replay discards the group's suffix from the first index on. */
  entries: 2,
  hardState: 3,
  /**
   * A group's state-machine snapshot covers everything up to (index, term),
   * and whether the entries after it were kept (the log agreed with the
   * snapshot at index) or discarded. Recording the outcome lets replay apply
   * it even when the entries before the point are gone with a released segment.
   */
  compact: 4,
  dropGroup: 5,
  /**
   * A compaction point that also records the membership in force at `index`
   * (voters, then learners), which the log no longer holds once compacted.
   * Written for every compaction since format version 2; type 4 is still read
   * (its membership is unknown and left as it was).
   */
  snapshot: 6,
  /**
   * A group's bootstrap membership: the voters and learners at index 0, which
   * the host records once, before anything else of the group. Every segment
   * repeats it right after its checkpoint for each live group that has one, so
   * older segments are never needed for it (format version 3).
   */
  bootstrap: 7,
} as const;

/** "DCWL" read as a little-endian u32: marks a checkpoint (and so a segment) as ours. */
export const CHECKPOINT_MAGIC = 0x4c57_4344;
/**
 * Version 2 added the membership to checkpoints; version 3 the bootstrap
 * membership (record type 7). Older segments are still read: what they did
 * not record is unknown, so empty.
 */
export const FORMAT_VERSION = 3;
export const FORMAT_VERSIONS_READ: readonly number[] = [1, 2, 3];

/** Longest vote (a NodeId) in UTF-8 bytes that the log stores. */
export const NODE_ID_BYTES_MAX = 255;

/**
 * Largest encoded membership (two counts, then each id's length and UTF-8
 * bytes) a snapshot point or checkpoint stores: room for 18 members with ids of
 * 26 bytes. Every checkpoint reserves it per group, so it is kept small; the
 * core refuses a membership change past it (MEMBERSHIP_BYTES_MAX).
 */
export const CONF_STATE_BYTES_MAX = MEMBERSHIP_BYTES_MAX;

/** The state of one group at a segment boundary. */
export interface GroupCheckpoint {
  readonly group: GroupId;
  readonly hardState: HardState;
  readonly snapshotIndex: LogIndex;
  readonly snapshotTerm: Term;
  /** Membership at snapshotIndex; empty if unknown (no snapshot, or written by format version 1). */
  readonly confState: ConfState;
}

export type WalRecord =
  | { readonly type: "checkpoint"; readonly segmentSeq: number; readonly groups: readonly GroupCheckpoint[] }
  | { readonly type: "entries"; readonly group: GroupId; readonly entries: readonly Entry[] }
  | { readonly type: "hardState"; readonly group: GroupId; readonly hardState: HardState }
  | {
      readonly type: "compact";
      readonly group: GroupId;
      readonly index: LogIndex;
      readonly term: Term;
      readonly keptSuffix: boolean;
      /** Undefined for a type-4 record, which did not record it. */
      readonly confState: ConfState | undefined;
    }
  | { readonly type: "dropGroup"; readonly group: GroupId }
  | { readonly type: "bootstrap"; readonly group: GroupId; readonly confState: ConfState };
