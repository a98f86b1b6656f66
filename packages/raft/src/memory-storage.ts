import { assert } from "./assert.js";
import type { Entry } from "./entry.js";
import { limitSize } from "./entry.js";
import type { HardState } from "./hard-state.js";
import { EMPTY_HARD_STATE } from "./hard-state.js";
import type { InitialState, Storage } from "./storage.js";
import { LogCompactedError, LogUnavailableError } from "./storage.js";
import type { LogIndex, NodeId, Term } from "./types.js";
import { INDEX_NONE, TERM_NONE } from "./types.js";

/**
 * Storage kept in memory: for tests, the simulator and the benchmark. Whatever
 * is written here counts as durable; the simulator models a crash by dropping
 * only what the host had not yet written.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private voters: readonly NodeId[];
  /** entries[i] holds index i + 1 (no compaction yet, so the log starts at 1). */
  private readonly log: Entry[] = [];

  constructor(voters: readonly NodeId[] = []) {
    this.voters = [...voters];
  }

  initialState(): InitialState {
    return { hardState: this.hardState, voters: this.voters };
  }

  setHardState(hardState: HardState): void {
    assert(hardState.term >= this.hardState.term, "persisted term must never decrease");
    this.hardState = hardState;
  }

  firstIndex(): LogIndex {
    return 1 as LogIndex;
  }

  lastIndex(): LogIndex {
    return this.log.length as LogIndex;
  }

  term(index: LogIndex): Term {
    if (index === INDEX_NONE) return TERM_NONE;
    if (index > this.log.length) throw new LogUnavailableError(`index ${index} is past the last index ${this.log.length}`);
    if (index < 0) throw new LogCompactedError(`index ${index} precedes the log`);
    return this.log[index - 1]!.term;
  }

  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): readonly Entry[] {
    if (lo < 1) throw new LogCompactedError(`index ${lo} precedes the log`);
    if (hi > this.log.length + 1) throw new LogUnavailableError(`index ${hi - 1} is past the last index ${this.log.length}`);
    return limitSize(this.log.slice(lo - 1, hi - 1), maxBytes);
  }

  /**
   * Appends entries, first discarding any stored suffix from `entries[0].index`
   * on: a new leader may overwrite uncommitted entries (paper §5.3).
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    assert(first >= 1 && first <= this.log.length + 1, "append must not leave a gap in the log");
    assert(first > this.hardState.commit || this.log[first - 1]?.term === entries[0]!.term, "must not overwrite committed entries");
    this.log.length = first - 1;
    for (const entry of entries) {
      assert(entry.index === this.log.length + 1, "appended entries must be contiguous");
      this.log.push(entry);
    }
  }
}
