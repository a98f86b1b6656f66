import { assert } from "../assert.js";
import type { ConfState, SnapshotMetadata } from "../conf-state.js";
import { EMPTY_CONF_STATE, EMPTY_SNAPSHOT } from "../conf-state.js";
import type { Entry } from "../entry.js";
import { entrySizeBytes } from "../entry.js";
import type { HardState } from "../hard-state.js";
import { EMPTY_HARD_STATE } from "../hard-state.js";
import type { InitialState } from "../storage.js";
import { LogCompactedError, LogUnavailableError } from "../storage.js";
import type { LogIndex, Term } from "../types.js";
import type { GroupId } from "./group-id.js";
import type { WalGroupStorage } from "./wal-group-storage.js";

/**
 * The in-memory state of one group in the log. Invariants:
 *   log[k].index === snapshotIndex + 1 + k       (no gaps, paper §5.3 Log Matching)
 *   terms never decrease along the log            (asserted on append)
 *   committed entries are never overwritten       (paper §5.4)
 */
export class WalGroupLog implements WalGroupStorage {
  private hard: HardState = EMPTY_HARD_STATE;
  /** The snapshot the log was compacted to (or received): the log starts right after it. */
  private floor: SnapshotMetadata = EMPTY_SNAPSHOT;
  private log: Entry[] = [];
  /** The membership the group was bootstrapped with (index 0); empty if never recorded. */
  private boot: ConfState = EMPTY_CONF_STATE;
  private dropped = false;

  constructor(readonly group: GroupId) {}

  initialState(): InitialState {
    this.assertLive();
    return { hardState: this.hard, voters: this.boot.voters };
  }

  /** The membership the group was bootstrapped with; empty if it was never recorded (a log written before format version 3). */
  bootstrapConfState(): ConfState {
    this.assertLive();
    return this.boot;
  }

  /** Records the bootstrap membership; before the first snapshot it is also the configuration at index 0. */
  setBootstrap(confState: ConfState): void {
    this.assertLive();
    this.boot = confState;
    if (this.floor.index === 0) this.floor = { ...this.floor, confState };
  }

  hardState(): HardState {
    this.assertLive();
    return this.hard;
  }

  snapshot(): SnapshotMetadata {
    this.assertLive();
    return this.floor;
  }

  snapshotIndex(): LogIndex {
    this.assertLive();
    return this.floor.index;
  }

  snapshotTerm(): Term {
    this.assertLive();
    return this.floor.term;
  }

  private get floorIndex(): LogIndex {
    return this.floor.index;
  }

  firstIndex(): LogIndex {
    this.assertLive();
    return (this.floorIndex + 1) as LogIndex;
  }

  lastIndex(): LogIndex {
    this.assertLive();
    return (this.floorIndex + this.log.length) as LogIndex;
  }

  term(index: LogIndex): Term {
    this.assertLive();
    if (index === this.floorIndex) return this.floor.term;
    if (index < this.floorIndex) throw new LogCompactedError(`group ${this.group}: index ${index} precedes the log (snapshot at ${this.floorIndex})`);
    const entry = this.log[index - this.floorIndex - 1];
    if (entry === undefined) throw new LogUnavailableError(`group ${this.group}: index ${index} is past the last index ${this.lastIndex()}`);
    return entry.term;
  }

  entries(lo: LogIndex, hi: LogIndex, bytesMax: number): readonly Entry[] {
    this.assertLive();
    if (lo <= this.floorIndex) throw new LogCompactedError(`group ${this.group}: index ${lo} precedes the log (snapshot at ${this.floorIndex})`);
    if (hi > this.lastIndex() + 1) throw new LogUnavailableError(`group ${this.group}: index ${hi - 1} is past the last index ${this.lastIndex()}`);
    assert(lo <= hi, "entries: lo must not exceed hi");
    const start = lo - this.floorIndex - 1;
    const end = hi - this.floorIndex - 1;
    if (start === end) return [];
    // At least one entry, then as many as fit in bytesMax (the core's limitSize contract).
    let size = entrySizeBytes(this.log[start]!);
    let stop = start + 1;
    while (stop < end) {
      size += entrySizeBytes(this.log[stop]!);
      if (size > bytesMax) break;
      stop += 1;
    }
    return this.log.slice(start, stop);
  }

  /** Can a run starting at `first` be appended (it overlaps or directly follows the log, after the snapshot)? */
  fitsAt(first: LogIndex): boolean {
    return first > this.floorIndex && first <= this.floorIndex + this.log.length + 1;
  }

  /** Checks what the host hands to `append` against the Raft log invariants; throws `RaftAssertionError`. */
  assertAppendable(entries: readonly Entry[]): void {
    this.assertLive();
    assert(entries.length > 0, "an append carries at least one entry");
    const first = entries[0]!.index;
    assert(this.fitsAt(first), `group ${this.group}: append at ${first} must follow the log [${this.floorIndex + 1}, ${this.lastIndex()}] without a gap`);
    let previousTerm = this.term((first - 1) as LogIndex);
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      assert(entry.index === first + i, `group ${this.group}: appended entries must have consecutive indexes`);
      assert(
        Number.isSafeInteger(entry.term) && entry.term >= previousTerm,
        `group ${this.group}: terms must not decrease along the log (entry ${entry.index})`,
      );
      assert(entry.kind === "command" || entry.kind === "noop" || entry.kind === "config", `group ${this.group}: unknown entry kind`);
      assert(entry.data instanceof Uint8Array, `group ${this.group}: entry data must be a Uint8Array`);
      previousTerm = entry.term;
    }
    const overlapEnd = Math.min(this.hard.commit, this.lastIndex(), entries[entries.length - 1]!.index);
    for (let index = first; index <= overlapEnd; index++) {
      assert(this.term(index as LogIndex) === entries[index - first]!.term, `group ${this.group}: append must not overwrite committed entry ${index}`);
    }
  }

  /** Appends, first discarding the stored suffix from entries[0].index on (a new leader may overwrite uncommitted entries, paper §5.3). */
  append(entries: readonly Entry[]): void {
    const first = entries[0]!.index;
    assert(this.fitsAt(first), `group ${this.group}: append at ${first} leaves a gap`);
    this.log.length = first - this.floorIndex - 1;
    for (const entry of entries) this.log.push(entry);
  }

  /** `lastIndex` is the group's last index once the same batch's entries are in. */
  assertHardState(hardState: HardState, lastIndex: LogIndex): void {
    this.assertLive();
    const current = this.hard;
    assert(Number.isSafeInteger(hardState.term) && hardState.term >= current.term, `group ${this.group}: persisted term must never decrease`);
    assert(
      hardState.term !== current.term || current.vote === undefined || hardState.vote === current.vote,
      `group ${this.group}: a vote must not change within a term (paper §5.2)`,
    );
    assert(Number.isSafeInteger(hardState.commit) && hardState.commit >= current.commit, `group ${this.group}: commit index must never decrease`);
    assert(hardState.commit <= lastIndex, `group ${this.group}: commit ${hardState.commit} is past the last index ${lastIndex}`);
  }

  setHardState(hardState: HardState): void {
    this.hard = hardState;
  }

  /**
   * What recording a snapshot at (index, term) does to the log: nothing if an
   * older or equal snapshot is recorded ("stale"); otherwise entries up to
   * `index` go, and the rest stay only if the log agrees with the snapshot at
   * `index` (same term), as in etcd's snapshot install.
   */
  compactOutcome(index: LogIndex, term: Term): "stale" | "keepSuffix" | "discard" {
    this.assertLive();
    if (index <= this.floorIndex) return "stale";
    return index <= this.lastIndex() && this.term(index) === term ? "keepSuffix" : "discard";
  }

  compact(index: LogIndex, term: Term, confState: ConfState): void {
    const outcome = this.compactOutcome(index, term);
    if (outcome === "stale") return;
    if (outcome === "keepSuffix") this.log.splice(0, index - this.floorIndex);
    else this.log = [];
    this.floor = { index, term, confState };
  }

  /** Installs a snapshot received from the leader: the whole log goes, whatever it held (the core discarded it too). */
  install(snapshot: SnapshotMetadata): void {
    assert(snapshot.index > this.floorIndex, `group ${this.group}: an installed snapshot must be newer than the stored one`);
    this.log = [];
    this.floor = snapshot;
  }

  /** State Machine Safety (paper §5.4.3): a snapshot cannot disagree with a committed entry. */
  assertSnapshotAgrees(index: LogIndex, term: Term): void {
    const committed = Math.min(this.hard.commit, this.lastIndex());
    assert(
      index > committed || this.term(index) === term,
      `group ${this.group}: snapshot (${index}, ${term}) contradicts committed entry with term ${index <= committed ? this.term(index) : "-"}`,
    );
  }

  /** Rebuilds a group from recovered state; `log` starts right after the snapshot. */
  static restore(group: GroupId, hardState: HardState, snapshot: SnapshotMetadata, log: Entry[], bootstrap: ConfState = EMPTY_CONF_STATE): WalGroupLog {
    assert(log.length === 0 || log[0]!.index === snapshot.index + 1, `group ${group}: a restored log must start right after its snapshot`);
    const restored = new WalGroupLog(group);
    restored.hard = hardState;
    restored.floor = snapshot;
    restored.log = log;
    restored.boot = bootstrap;
    return restored;
  }

  markDropped(): void {
    this.dropped = true;
    this.log = [];
  }

  private assertLive(): void {
    assert(!this.dropped, `group ${this.group} was dropped from the log`);
  }
}
