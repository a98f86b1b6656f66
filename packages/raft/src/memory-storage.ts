import { assert } from "./assert.js";
import type { SnapshotMetadata } from "./conf-state.js";
import { EMPTY_SNAPSHOT } from "./conf-state.js";
import type { Entry } from "./entry.js";
import { limitSize } from "./entry.js";
import type { HardState } from "./hard-state.js";
import { EMPTY_HARD_STATE } from "./hard-state.js";
import type { InitialState, Storage } from "./storage.js";
import { LogCompactedError, LogUnavailableError } from "./storage.js";
import type { LogIndex, NodeId, Term } from "./types.js";

/**
 * Storage kept in memory: for tests, the simulator and the benchmark. Whatever
 * is written here counts as durable; the simulator models a crash by dropping
 * only what the host had not yet written.
 *
 * Invariant: log[k].index === floor.index + 1 + k (no gaps; paper §5.3).
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private readonly voters: readonly NodeId[];
  /** The snapshot the log was compacted to: the log starts right after it. */
  private floor: SnapshotMetadata = EMPTY_SNAPSHOT;
  /** Entries after the snapshot: log[k] holds index floor.index + 1 + k. */
  private log: Entry[] = [];

  constructor(voters: readonly NodeId[] = []) {
    this.voters = [...voters];
  }

  initialState(): InitialState {
    return { hardState: this.hardState, voters: this.voters };
  }

  snapshot(): SnapshotMetadata {
    return this.floor;
  }

  setHardState(hardState: HardState): void {
    assert(hardState.term >= this.hardState.term, "persisted term must never decrease");
    this.hardState = hardState;
  }

  firstIndex(): LogIndex {
    return (this.floor.index + 1) as LogIndex;
  }

  lastIndex(): LogIndex {
    return (this.floor.index + this.log.length) as LogIndex;
  }

  term(index: LogIndex): Term {
    if (index === this.floor.index) return this.floor.term;
    if (index < this.floor.index) throw new LogCompactedError(`index ${index} precedes the log (snapshot at ${this.floor.index})`);
    if (index > this.lastIndex()) throw new LogUnavailableError(`index ${index} is past the last index ${this.lastIndex()}`);
    return this.log[index - this.floor.index - 1]!.term;
  }

  entries(lo: LogIndex, hi: LogIndex, bytesMax: number): readonly Entry[] {
    if (lo <= this.floor.index) throw new LogCompactedError(`index ${lo} precedes the log (snapshot at ${this.floor.index})`);
    if (hi > this.lastIndex() + 1) throw new LogUnavailableError(`index ${hi - 1} is past the last index ${this.lastIndex()}`);
    const offset = this.floor.index + 1;
    return limitSize(this.log.slice(lo - offset, hi - offset), bytesMax);
  }

  /**
   * Appends entries, first discarding any stored suffix from `entries[0].index`
   * on: a new leader may overwrite uncommitted entries (paper §5.3).
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    assert(first > this.floor.index, "append must not reach into the snapshot");
    assert(first <= this.lastIndex() + 1, "append must not leave a gap in the log");
    assert(first > this.hardState.commit || this.term(first) === entries[0]!.term, "must not overwrite committed entries");
    this.log.length = first - this.floor.index - 1;
    for (const entry of entries) {
      assert(entry.index === this.lastIndex() + 1, "appended entries must be contiguous");
      this.log.push(entry);
    }
  }

  /**
   * Log compaction (thesis §5.1): the host's state machine saved a snapshot
   * described by `snapshot` (from `RaftNode.snapshotMetadata`), so the entries
   * up to its index go. The entries after it stay. An older snapshot is a no-op.
   */
  compact(snapshot: SnapshotMetadata): void {
    if (snapshot.index <= this.floor.index) return;
    assert(snapshot.index <= this.lastIndex(), `compaction at ${snapshot.index} is past the last index ${this.lastIndex()}`);
    assert(
      this.term(snapshot.index) === snapshot.term,
      `compaction at ${snapshot.index} names term ${snapshot.term}, the log holds ${this.term(snapshot.index)}`,
    );
    this.log = this.log.slice(snapshot.index - this.floor.index);
    this.floor = snapshot;
  }

  /**
   * Installs a snapshot received from the leader (a Ready's `snapshot`): the
   * whole log is replaced by it (thesis §5.3, InstallSnapshot receiver).
   */
  applySnapshot(snapshot: SnapshotMetadata): void {
    assert(snapshot.index > this.floor.index, `snapshot ${snapshot.index} is not newer than the stored one (${this.floor.index})`);
    // State Machine Safety (paper §5.4.3): a snapshot never contradicts a committed entry.
    const committed = Math.min(this.hardState.commit, this.lastIndex());
    assert(snapshot.index > committed || this.term(snapshot.index) === snapshot.term, "a snapshot must not contradict a committed entry");
    this.log = [];
    this.floor = snapshot;
  }
}
