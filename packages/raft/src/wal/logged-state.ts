import type { ConfState } from "../conf-state.js";
import { EMPTY_CONF_STATE } from "../conf-state.js";
import type { HardState } from "../hard-state.js";
import { EMPTY_HARD_STATE } from "../hard-state.js";
import type { LogIndex, Term } from "../types.js";
import { INDEX_NONE, TERM_NONE } from "../types.js";
import type { GroupId } from "./group-id.js";
import type { GroupCheckpoint } from "./wal-record.js";

/** What a record does to the per-group state a checkpoint holds (entries data aside). */
export type RecordEffect =
  | { readonly type: "entries"; readonly group: GroupId; readonly lastIndex: LogIndex }
  | { readonly type: "hardState"; readonly group: GroupId; readonly hardState: HardState }
  | { readonly type: "compact"; readonly group: GroupId; readonly index: LogIndex; readonly term: Term; readonly confState: ConfState }
  | { readonly type: "dropGroup"; readonly group: GroupId }
  | { readonly type: "bootstrap"; readonly group: GroupId; readonly confState: ConfState };

interface MutableCheckpoint {
  hardState: HardState;
  snapshotIndex: LogIndex;
  snapshotTerm: Term;
  confState: ConfState;
  bootstrap: ConfState;
}

/**
 * Every group's hard state and snapshot point as of the end of the records
 * written so far, in write order. The in-memory group logs run ahead of it
 * (they change when a call is made, records are written later), so the
 * checkpoint at the head of a new segment is taken from here: it must
 * describe exactly the records before it.
 */
export class LoggedState {
  private readonly groups = new Map<GroupId, MutableCheckpoint>();

  static from(checkpoints: Iterable<GroupCheckpoint & { readonly bootstrap: ConfState }>): LoggedState {
    const state = new LoggedState();
    for (const { group, hardState, snapshotIndex, snapshotTerm, confState, bootstrap } of checkpoints)
      state.groups.set(group, { hardState, snapshotIndex, snapshotTerm, confState, bootstrap });
    return state;
  }

  apply(effect: RecordEffect): void {
    if (effect.type === "dropGroup") {
      this.groups.delete(effect.group);
      return;
    }
    let state = this.groups.get(effect.group);
    if (state === undefined) {
      state = { hardState: EMPTY_HARD_STATE, snapshotIndex: INDEX_NONE, snapshotTerm: TERM_NONE, confState: EMPTY_CONF_STATE, bootstrap: EMPTY_CONF_STATE };
      this.groups.set(effect.group, state);
    }
    if (effect.type === "hardState") state.hardState = effect.hardState;
    if (effect.type === "bootstrap") {
      state.bootstrap = effect.confState;
      // Before the first snapshot, the bootstrap membership is the configuration at the snapshot point (index 0).
      if (state.snapshotIndex === INDEX_NONE) state.confState = effect.confState;
    }
    if (effect.type === "compact" && effect.index > state.snapshotIndex) {
      state.snapshotIndex = effect.index;
      state.snapshotTerm = effect.term;
      state.confState = effect.confState;
    }
  }

  snapshotIndex(group: GroupId): LogIndex | undefined {
    return this.groups.get(group)?.snapshotIndex;
  }

  /** All groups, ordered by id so a checkpoint's bytes do not depend on insertion order. */
  checkpoint(): GroupCheckpoint[] {
    return this.sorted().map(([group, { hardState, snapshotIndex, snapshotTerm, confState }]) => ({
      group,
      hardState,
      snapshotIndex,
      snapshotTerm,
      confState,
    }));
  }

  /** The bootstrap membership of every group that has one, ordered by id: repeated after each checkpoint. */
  bootstraps(): { group: GroupId; confState: ConfState }[] {
    return this.sorted()
      .filter(([, state]) => state.bootstrap.voters.length > 0)
      .map(([group, state]) => ({ group, confState: state.bootstrap }));
  }

  private sorted(): [GroupId, MutableCheckpoint][] {
    return [...this.groups.entries()].sort(([a], [b]) => a - b);
  }
}
