import type { SnapshotMetadata } from "./conf-state.js";
import type { Entry } from "./entry.js";
import type { HardState } from "./hard-state.js";
import type { LogIndex, NodeId, Term } from "./types.js";

/** What a node restarts from. */
export interface InitialState {
  readonly hardState: HardState;
  /**
   * The bootstrap voters this storage was created for, checked against the
   * configured ones; empty when unknown. Membership after bootstrap comes from
   * `snapshot().confState` and the config entries in the log.
   */
  readonly voters: readonly NodeId[];
}

/**
 * Read access to the stable (persisted) part of the log. The core never writes
 * storage: the host persists what a Ready hands it, then calls `advance`.
 *
 * The log held here covers indexes [firstIndex(), lastIndex()]. Everything up
 * to firstIndex() - 1 is covered by the state-machine snapshot `snapshot()`
 * names; of that entry only its term is known. With no snapshot, firstIndex()
 * is 1 and term(0) is 0.
 *
 * Implementations may throw `LogCompactedError` or `LogUnavailableError` for
 * indexes outside that range. The core checks the range first and never asks
 * outside it, so either error reaching the core is a programmer error.
 */
export interface Storage {
  initialState(): InitialState;
  /**
   * The snapshot the log was compacted to: index firstIndex() - 1, its term, and
   * the membership in force there. `EMPTY_SNAPSHOT` (index 0) if none.
   */
  snapshot(): SnapshotMetadata;
  /** Entries in [lo, hi), at least one if lo < hi, then as many as fit within `bytesMax`. */
  entries(lo: LogIndex, hi: LogIndex, bytesMax: number): readonly Entry[];
  /** Term of the entry at `index`, for index in [firstIndex() - 1, lastIndex()]. */
  term(index: LogIndex): Term;
  firstIndex(): LogIndex;
  lastIndex(): LogIndex;
}

/** The requested index precedes the log (it was compacted into a snapshot). */
export class LogCompactedError extends Error {
  override readonly name = "LogCompactedError";
}

/** The requested index lies past the last stored entry. */
export class LogUnavailableError extends Error {
  override readonly name = "LogUnavailableError";
}
