import { assert, fail } from "./assert.js";
import type { ConfState, SnapshotMetadata } from "./conf-state.js";
import { EMPTY_CONF_STATE } from "./conf-state.js";
import type { Entry } from "./entry.js";
import { limitSize } from "./entry.js";
import type { Storage } from "./storage.js";
import type { LogIndex, Term } from "./types.js";
import { INDEX_NONE, TERM_NONE } from "./types.js";
import { Unstable } from "./unstable.js";
import { ConfigHistory } from "./membership/config-history.js";

/** Page size for reading the stored log once at start-up (config entries). */
const STARTUP_SCAN_PAGE_BYTES = 1 << 20;

/**
 * One node's view of the log: stable storage plus the unstable tail, and the
 * commit and apply cursors. Invariants (asserted where they can change):
 *   applied <= committed <= lastIndex()   (paper Figure 2)
 *   committed entries are never overwritten (paper §5.4, Leader Completeness)
 *   firstIndex() - 1 <= applied               (compacted entries were applied)
 */
export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** The membership at every index of this log (thesis §4.1). */
  readonly configs: ConfigHistory;
  committed: LogIndex;
  applied: LogIndex;

  /**
   * `committed` and `applied` are raised to the storage's snapshot index: a
   * snapshot holds only committed entries (paper §5.4.3), and on restart the
   * host restores its state machine from that snapshot before anything else.
   *
   * Membership starts from the snapshot's (or, with no snapshot or one that
   * recorded none, from `bootstrap`), then every config entry in the stored
   * log is applied on top.
   */
  constructor(storage: Storage, committed: LogIndex, applied: LogIndex, bootstrap: ConfState = EMPTY_CONF_STATE) {
    this.storage = storage;
    this.unstable = new Unstable((storage.lastIndex() + 1) as LogIndex);
    const snapshot = storage.snapshot();
    const snapshotIndex = (storage.firstIndex() - 1) as LogIndex;
    assert(snapshot.index === snapshotIndex, "storage's snapshot must end right before its first index");
    this.configs = new ConfigHistory(snapshotIndex, snapshot.confState.voters.length > 0 ? snapshot.confState : bootstrap);
    this.scanConfigs();
    if (committed > storage.lastIndex()) {
      fail(`persisted commit ${committed} is past the last stored index ${storage.lastIndex()}: was the log lost?`);
    }
    assert(applied <= Math.max(committed, snapshotIndex), "applied index must not exceed the commit index");
    this.committed = Math.max(committed, snapshotIndex) as LogIndex;
    this.applied = Math.max(applied, snapshotIndex) as LogIndex;
  }

  private scanConfigs(): void {
    const last = this.storage.lastIndex();
    for (let lo = this.storage.firstIndex(); lo <= last;) {
      const page = this.storage.entries(lo, (last + 1) as LogIndex, STARTUP_SCAN_PAGE_BYTES);
      assert(page.length > 0, "storage returned no entries");
      this.configs.onAppend(page);
      lo = (lo + page.length) as LogIndex;
    }
  }

  firstIndex(): LogIndex {
    const snapshot = this.unstable.snapshot;
    return snapshot === undefined ? this.storage.firstIndex() : ((snapshot.index + 1) as LogIndex);
  }

  lastIndex(): LogIndex {
    return this.unstable.lastIndex() ?? this.unstable.snapshot?.index ?? this.storage.lastIndex();
  }

  /** The snapshot waiting to be persisted (received from the leader), if any. */
  pendingSnapshot(): SnapshotMetadata | undefined {
    return this.unstable.snapshot;
  }

  /**
   * Last index whose entry is durable and still part of this log. Entries the
   * unstable tail shadows do not count: they are about to be overwritten. While
   * a received snapshot is not yet persisted, nothing stored counts.
   */
  persistedLastIndex(): LogIndex {
    if (this.unstable.snapshot !== undefined) return INDEX_NONE;
    if (this.unstable.isEmpty) return this.storage.lastIndex();
    return Math.min(this.storage.lastIndex(), this.unstable.offset - 1) as LogIndex;
  }

  lastTerm(): Term {
    return this.term(this.lastIndex())!;
  }

  /** Term at `index`, or undefined outside [firstIndex() - 1, lastIndex()]. */
  term(index: LogIndex): Term | undefined {
    if (index > this.lastIndex()) return undefined;
    const unstableTerm = this.unstable.term(index);
    if (unstableTerm !== undefined) return unstableTerm;
    if (index < this.firstIndex() - 1 || this.unstable.snapshot !== undefined) return undefined;
    if (index === 0) return TERM_NONE;
    return this.storage.term(index);
  }

  matchTerm(index: LogIndex, term: Term): boolean {
    return this.term(index) === term;
  }

  /** Election restriction, paper §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up-to-date as ours? */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [lo, hi) limited to `bytesMax` (at least one). */
  entries(lo: LogIndex, hi: LogIndex, bytesMax: number): readonly Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, "log slice out of range");
    if (lo >= hi) return [];
    const offset = this.unstable.offset;
    let result: readonly Entry[] = [];
    if (lo < offset) {
      result = this.storage.entries(lo, Math.min(hi, offset) as LogIndex, bytesMax);
      if (result.length < Math.min(hi, offset) - lo) return result; // the size limit cut it short
    }
    if (hi > offset) {
      const tail = this.unstable.slice(Math.max(lo, offset) as LogIndex, hi);
      result = result.length === 0 ? tail : [...result, ...tail];
    }
    return limitSize(result, bytesMax);
  }

  /**
   * AppendEntries consistency check and append (paper §5.3). Returns the index
   * of the last new entry if (prevIndex, prevTerm) matches, else undefined.
   */
  maybeAppend(prevIndex: LogIndex, prevTerm: Term, leaderCommit: LogIndex, entries: readonly Entry[]): LogIndex | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNewIndex = (prevIndex + entries.length) as LogIndex;
    const conflict = this.findConflict(entries);
    if (conflict !== undefined) {
      if (conflict <= this.committed) fail(`entry ${conflict} conflicts with committed entry (commit ${this.committed})`);
      this.append(entries.slice(conflict - entries[0]!.index));
    }
    // Only entries known to match the leader may be committed: up to lastNewIndex.
    this.commitTo(Math.min(leaderCommit, lastNewIndex) as LogIndex);
    return lastNewIndex;
  }

  /** Index of the first entry that is new or whose term differs from ours, or undefined if all match. */
  private findConflict(entries: readonly Entry[]): LogIndex | undefined {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return undefined;
  }

  /** Appends after any index >= committed + 1; discards our suffix from entries[0].index on. */
  append(entries: readonly Entry[]): LogIndex {
    if (entries.length === 0) return this.lastIndex();
    const first = entries[0]!.index;
    assert(first > this.committed, "must not append over committed entries");
    assert(first <= this.lastIndex() + 1, "append must not leave a gap");
    this.unstable.truncateAndAppend(entries);
    this.configs.onAppend(entries);
    return this.lastIndex();
  }

  /**
   * Hint for a rejected AppendEntries at `index` (paper §5.3, optimization): our
   * term there and the first index we hold for it. Searching stops above the
   * commit index, which is known to match the leader.
   */
  conflictHint(index: LogIndex): { conflictTerm: Term; conflictIndex: LogIndex } {
    const last = this.lastIndex();
    if (index > last) return { conflictTerm: TERM_NONE, conflictIndex: (last + 1) as LogIndex };
    const conflictTerm = this.term(index)!;
    const floor = Math.max(this.committed + 1, this.firstIndex());
    let first = index;
    while (first > floor && this.term((first - 1) as LogIndex) === conflictTerm) first = (first - 1) as LogIndex;
    return { conflictTerm, conflictIndex: first };
  }

  /** Largest index <= `from` whose term is <= `term` (its term may be lower: then we hold no entry of `term` there). */
  lastIndexAtOrBelowTerm(from: LogIndex, term: Term): { index: LogIndex; term: Term } {
    let index = Math.min(from, this.lastIndex()) as LogIndex;
    let found = this.term(index);
    while (found !== undefined && found > term && index > this.firstIndex() - 1) {
      index = (index - 1) as LogIndex;
      found = this.term(index);
    }
    return { index, term: found ?? TERM_NONE };
  }

  commitTo(index: LogIndex): void {
    if (index <= this.committed) return; // the commit index never decreases
    if (index > this.lastIndex()) fail(`commit ${index} is past the last index ${this.lastIndex()}: was the log lost?`);
    this.committed = index;
  }

  /** Leader commit rule: only entries of the leader's current term are committed by counting (paper §5.4.2). */
  maybeCommit(index: LogIndex, term: Term, allowOlderTerm: boolean): boolean {
    if (index <= this.committed) return false;
    if (!allowOlderTerm && this.term(index) !== term) return false;
    this.commitTo(index);
    return true;
  }

  appliedTo(index: LogIndex): void {
    assert(index <= this.committed, "applied index must not exceed the commit index");
    assert(index >= this.applied, "applied index must not decrease");
    this.applied = index;
  }

  /** The first index a Ready hands out to apply: after the applied index, or after a pending snapshot, which the host applies first. */
  private nextApplyIndex(): LogIndex {
    const snapshot = this.unstable.snapshot;
    return (Math.max(this.applied, snapshot?.index ?? INDEX_NONE) + 1) as LogIndex;
  }

  hasNextCommittedEntries(): boolean {
    return this.committed >= this.nextApplyIndex();
  }

  nextCommittedEntries(bytesMax: number): readonly Entry[] {
    const lo = this.nextApplyIndex();
    if (this.committed < lo) return [];
    return this.entries(lo, (this.committed + 1) as LogIndex, bytesMax);
  }

  /**
   * InstallSnapshot receiver (thesis §5.3): the snapshot replaces the whole log,
   * which then ends at its index; everything in it is committed.
   */
  restore(snapshot: SnapshotMetadata): void {
    assert(snapshot.index > this.committed, "a snapshot at or below the commit index is never restored");
    this.unstable.restore(snapshot);
    this.configs.restore(snapshot.index, snapshot.confState);
    this.committed = snapshot.index;
  }

  stableTo(index: LogIndex, term: Term): void {
    this.unstable.stableTo(index, term);
  }

  /** The host persisted (and applied) the snapshot at `index`. */
  stableSnapshotTo(index: LogIndex): void {
    this.unstable.stableSnapshotTo(index);
    if (index > this.applied) this.applied = index;
  }
}
