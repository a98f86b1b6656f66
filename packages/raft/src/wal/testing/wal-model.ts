import type { Entry } from "../../entry.js";
import type { HardState } from "../../hard-state.js";
import { EMPTY_HARD_STATE } from "../../hard-state.js";
import type { LogIndex, Term } from "../../types.js";
import type { GroupId } from "../group-id.js";
import type { NodeWal, WalAppend } from "../node-wal.js";

/** Everything a group's storage exposes, in a form `toEqual` can compare. */
export interface GroupView {
  readonly group: GroupId;
  readonly hardState: HardState;
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  /** term(i) for i in [firstIndex - 1, lastIndex]. */
  readonly terms: readonly number[];
  /** Entries with their data in hex, which compares much faster than arrays of numbers. */
  readonly entries: readonly { term: number; index: number; kind: string; data: string }[];
}

/** Reads every group of `wal` through the public Storage interface. */
export function viewWal(wal: NodeWal): GroupView[] {
  return wal.groups().map((group) => {
    const storage = wal.storage(group);
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    const terms: number[] = [];
    for (let index = first - 1; index <= last; index++) terms.push(storage.term(index as LogIndex));
    const entries = first <= last ? storage.entries(first, (last + 1) as LogIndex, Number.MAX_SAFE_INTEGER) : [];
    return {
      group,
      hardState: storage.hardState(),
      snapshotIndex: storage.snapshotIndex(),
      snapshotTerm: storage.snapshotTerm(),
      firstIndex: first,
      lastIndex: last,
      terms,
      entries: entries.map(plainEntry),
    };
  });
}

function plainEntry(entry: Entry): { term: number; index: number; kind: string; data: string } {
  return {
    term: entry.term,
    index: entry.index,
    kind: entry.kind,
    data: Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength).toString("hex"),
  };
}

interface ModelGroup {
  hardState: HardState;
  snapshotIndex: number;
  snapshotTerm: number;
  entries: Entry[];
}

/**
 * A deliberately naive reference of what the log must hold, written
 * independently of the implementation: tests compare the two.
 */
export class WalModel {
  private readonly groups = new Map<GroupId, ModelGroup>();

  append(batch: readonly WalAppend[]): void {
    for (const { group, hardState, entries } of batch) {
      if (entries.length === 0 && hardState === undefined) continue;
      const state = this.group(group);
      if (entries.length > 0) state.entries = state.entries.filter((entry) => entry.index < entries[0]!.index).concat(entries);
      if (hardState !== undefined) state.hardState = hardState;
    }
  }

  compact(group: GroupId, index: number, term: number): void {
    const state = this.group(group);
    if (index <= state.snapshotIndex) return;
    const agrees = state.entries.some((entry) => entry.index === index && entry.term === term);
    state.entries = agrees ? state.entries.filter((entry) => entry.index > index) : [];
    state.snapshotIndex = index;
    state.snapshotTerm = term;
  }

  drop(group: GroupId): void {
    this.groups.delete(group);
  }

  clone(): WalModel {
    const copy = new WalModel();
    for (const [group, state] of this.groups) copy.groups.set(group, { ...state, entries: [...state.entries] });
    return copy;
  }

  has(group: GroupId): boolean {
    return this.groups.has(group);
  }

  /** The same shape as `viewWal`. */
  view(): GroupView[] {
    return [...this.groups.keys()]
      .sort((a, b) => a - b)
      .map((group) => {
        const state = this.groups.get(group)!;
        const lastIndex = state.snapshotIndex + state.entries.length;
        return {
          group,
          hardState: state.hardState,
          snapshotIndex: state.snapshotIndex,
          snapshotTerm: state.snapshotTerm,
          firstIndex: state.snapshotIndex + 1,
          lastIndex,
          terms: [state.snapshotTerm, ...state.entries.map((entry) => entry.term)],
          entries: state.entries.map(plainEntry),
        };
      });
  }

  private group(group: GroupId): ModelGroup {
    let state = this.groups.get(group);
    if (state === undefined) {
      state = { hardState: EMPTY_HARD_STATE, snapshotIndex: 0, snapshotTerm: 0, entries: [] };
      this.groups.set(group, state);
    }
    return state;
  }
}

/** Entries [first, first + count) of `term`, each with a few bytes derived from its position. */
export function makeEntries(first: number, count: number, term: number, dataBytes = 4, seed = 0): Entry[] {
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const index = first + i;
    const data = new Uint8Array(dataBytes);
    for (let j = 0; j < dataBytes; j++) data[j] = (index * 31 + j * 7 + term * 13 + seed) & 0xff;
    entries.push({ term: term as Term, index: index as LogIndex, kind: i === 0 && index % 5 === 0 ? "noop" : "command", data });
  }
  return entries;
}
