import type { ConfState } from "../conf-state.js";
import { EMPTY_CONF_STATE } from "../conf-state.js";
import type { Entry } from "../entry.js";
import type { HardState } from "../hard-state.js";
import { EMPTY_HARD_STATE } from "../hard-state.js";
import type { LogIndex, Term } from "../types.js";
import { INDEX_NONE, TERM_NONE } from "../types.js";
import type { GroupId } from "./group-id.js";
import { WalGroupLog } from "./wal-group-log.js";

/** Where a record sits: for error messages. */
export interface RecordPosition {
  readonly segment: string;
  readonly offset: number;
}

/**
 * A group being rebuilt by replay. Unlike the live log it may have a hole:
 * entries (snapshotIndex, base] unknown. A hole is legitimate when the
 * entries before a record sat in a released segment, which only happens if a
 * later compaction record covers them; so a hole must be closed by the end of
 * replay, or entries are missing.
 *
 *   entries[k].index === base + 1 + k,   base >= snapshotIndex
 */
export class ReplayGroup {
  hardState: HardState = EMPTY_HARD_STATE;
  snapshotIndex: LogIndex = INDEX_NONE;
  snapshotTerm: Term = TERM_NONE;
  confState: ConfState = EMPTY_CONF_STATE;
  /** The membership the group was bootstrapped with; empty if never recorded. */
  bootstrap: ConfState = EMPTY_CONF_STATE;
  private base: number = INDEX_NONE;
  private entries: Entry[] = [];
  /** The record that opened the current hole, if any. */
  private holeOpenedAt: RecordPosition | undefined;

  constructor(readonly group: GroupId) {}

  get lastIndex(): number {
    return this.base + this.entries.length;
  }

  /** Starts from a checkpoint: the snapshot point and an empty log after it. */
  reset(hardState: HardState, snapshotIndex: LogIndex, snapshotTerm: Term, confState: ConfState): void {
    this.hardState = hardState;
    this.snapshotIndex = snapshotIndex;
    this.snapshotTerm = snapshotTerm;
    this.confState = confState;
    this.base = snapshotIndex;
    this.entries = [];
    this.holeOpenedAt = undefined;
  }

  /**
   * Appends a run, discarding the suffix from its first index on. Returns false
   * if the run starts at or before the snapshot (the writer never does that).
   */
  append(run: readonly Entry[], position: RecordPosition): boolean {
    const first = run[0]!.index;
    if (first <= this.snapshotIndex) return false;
    if (first > this.base && first <= this.lastIndex + 1) {
      this.entries.length = first - this.base - 1;
    } else {
      // Either a gap after the log, or a start inside the hole: what came before is unknown
      // (and must be compacted away later). Entries before a gap go too: they precede the hole.
      this.base = first - 1;
      this.entries = [];
      this.holeOpenedAt = position;
    }
    for (const entry of run) this.entries.push(entry);
    return true;
  }

  /** Applies a compaction with the outcome the writer recorded; `confState` undefined keeps the membership (a format-1 record). */
  compact(index: LogIndex, term: Term, keptSuffix: boolean, confState?: ConfState): void {
    if (index <= this.snapshotIndex) return;
    if (confState !== undefined) this.confState = confState;
    if (keptSuffix && index < this.base) {
      // The hole shrinks to (index, base]; the entries after it stay.
    } else if (keptSuffix && index <= this.lastIndex) {
      this.entries.splice(0, index - this.base);
      this.base = index;
    } else {
      this.entries = [];
      this.base = index;
    }
    this.snapshotIndex = index;
    this.snapshotTerm = term;
    if (this.base === this.snapshotIndex) this.holeOpenedAt = undefined;
  }

  /** A bootstrap record: before the first snapshot it is also the configuration at the snapshot point (index 0). */
  setBootstrap(confState: ConfState): void {
    this.bootstrap = confState;
    if (this.snapshotIndex === INDEX_NONE) this.confState = confState;
  }

  /** Where an unclosed hole was opened, or undefined if the log is whole. */
  unclosedHole(): RecordPosition | undefined {
    return this.base === this.snapshotIndex ? undefined : this.holeOpenedAt;
  }

  toLog(): WalGroupLog {
    return WalGroupLog.restore(
      this.group,
      this.hardState,
      { index: this.snapshotIndex, term: this.snapshotTerm, confState: this.confState },
      this.entries,
      this.bootstrap,
    );
  }
}
