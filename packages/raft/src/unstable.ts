import { assert } from "./assert.js";
import type { SnapshotMetadata } from "./conf-state.js";
import type { Entry } from "./entry.js";
import type { LogIndex, Term } from "./types.js";

/**
 * The tail of the log that is not yet persisted. Entries here shadow the stable
 * storage from `offset` on: once a new leader overwrites a suffix, the stored
 * entries at and after `offset` are logically gone even before the host
 * persists the replacement.
 *
 * A snapshot received from the leader waits here too until the host persists
 * it; it replaces the whole log, so the entries here then start right after it.
 */
export class Unstable {
  /** Index of entries[0] (or where the next entry would go when empty). */
  private offsetIndex: LogIndex;
  private pending: Entry[] = [];
  private pendingSnapshot: SnapshotMetadata | undefined;

  constructor(offset: LogIndex) {
    this.offsetIndex = offset;
  }

  get offset(): LogIndex {
    return this.offsetIndex;
  }

  get entries(): readonly Entry[] {
    return this.pending;
  }

  get isEmpty(): boolean {
    return this.pending.length === 0;
  }

  /** A snapshot to persist, or undefined. */
  get snapshot(): SnapshotMetadata | undefined {
    return this.pendingSnapshot;
  }

  /** Replaces everything with `snapshot`: the log now ends at its index (thesis §5.3). */
  restore(snapshot: SnapshotMetadata): void {
    this.pendingSnapshot = snapshot;
    this.offsetIndex = (snapshot.index + 1) as LogIndex;
    this.pending = [];
  }

  /** The host persisted the snapshot at `index`; a newer one restored meanwhile stays. */
  stableSnapshotTo(index: LogIndex): void {
    if (this.pendingSnapshot?.index === index) this.pendingSnapshot = undefined;
  }

  /** Last index held here, or undefined when empty. */
  lastIndex(): LogIndex | undefined {
    return this.pending.length === 0 ? undefined : ((this.offsetIndex + this.pending.length - 1) as LogIndex);
  }

  /** Term at `index` if held here (the pending snapshot's last entry included). */
  term(index: LogIndex): Term | undefined {
    if (index < this.offsetIndex) return this.pendingSnapshot?.index === index ? this.pendingSnapshot.term : undefined;
    return this.pending[index - this.offsetIndex]?.term;
  }

  /** Entries in [lo, hi); the range must lie inside this tail. */
  slice(lo: LogIndex, hi: LogIndex): Entry[] {
    assert(lo >= this.offsetIndex && hi <= this.offsetIndex + this.pending.length && lo <= hi, "unstable slice out of range");
    return this.pending.slice(lo - this.offsetIndex, hi - this.offsetIndex);
  }

  /**
   * The host persisted everything up to (index, term). The term check matters:
   * the tail may have been replaced between Ready and advance, and then the
   * persisted entries are not the ones held here.
   */
  stableTo(index: LogIndex, term: Term): void {
    if (index < this.offsetIndex || this.term(index) !== term) return;
    this.pending = this.pending.slice(index + 1 - this.offsetIndex);
    this.offsetIndex = (index + 1) as LogIndex;
  }

  /** Appends `entries`, first discarding everything from entries[0].index on. */
  truncateAndAppend(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    const end = this.offsetIndex + this.pending.length;
    if (first === end) {
      for (const entry of entries) this.pending.push(entry);
    } else if (first <= this.offsetIndex) {
      // The new entries replace the whole tail and part of the stable log.
      assert(this.pendingSnapshot === undefined || first > this.pendingSnapshot.index, "unstable append must not reach into the pending snapshot");
      this.offsetIndex = first;
      this.pending = [...entries];
    } else {
      assert(first < end, "unstable append must not leave a gap");
      this.pending = this.pending.slice(0, first - this.offsetIndex);
      for (const entry of entries) this.pending.push(entry);
    }
  }
}
