import type { Entry } from "./entry.js";
import type { HardState } from "./hard-state.js";
import type { LogIndex, NodeId, Term } from "./types.js";

/** What a node restarts from. */
export interface InitialState {
  readonly hardState: HardState;
  /** The voters recorded in storage; empty for a fresh node (the config's voters are used). */
  readonly voters: readonly NodeId[];
}

/**
 * Read access to the stable (persisted) part of the log. The core never writes
 * storage: the host persists what a Ready hands it, then calls `advance`.
 *
 * The log held here covers indexes [firstIndex(), lastIndex()]. The entry at
 * firstIndex() - 1 is the one a future snapshot ends with; only its term is
 * known. With no snapshot, firstIndex() is 1 and term(0) is 0.
 *
 * Implementations may throw `LogCompactedError` or `LogUnavailableError` for
 * indexes outside that range; the core treats either as a programmer error today
 * (snapshots arrive with a later issue) and never asks outside the range.
 */
export interface Storage {
  initialState(): InitialState;
  /** Entries in [lo, hi), at least one if lo < hi, then as many as fit within `maxBytes`. */
  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): readonly Entry[];
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
