import type { HardState } from "../hard-state.js";
import type { Storage } from "../storage.js";
import type { LogIndex, Term } from "../types.js";
import type { GroupId } from "./group-id.js";

/**
 * One group's view of the node's write-ahead log: the core's `Storage` plus
 * what the host needs to restart the group. It reflects every append,
 * compaction and hard state the log accepted, from the moment the call was
 * made (the call resolves once that is durable).
 *
 * The log covers [firstIndex(), lastIndex()]; firstIndex() is
 * snapshotIndex() + 1 and term(snapshotIndex()) is snapshotTerm().
 * `snapshot().confState` is the membership recorded with the last compaction
 * (before the first one, the bootstrap membership, or empty if none was
 * recorded: the core then uses its configured bootstrap membership).
 * `initialState().voters` is the membership recorded with `NodeWal.bootstrap`
 * (empty if none was), which the core checks against its configured voters.
 */
export interface WalGroupStorage extends Storage {
  readonly group: GroupId;
  /** Last index covered by the group's state-machine snapshot (0 if none). */
  snapshotIndex(): LogIndex;
  snapshotTerm(): Term;
  hardState(): HardState;
}
