import type { HardState } from "../../hard-state.js";
import type { LogIndex, NodeId, Term } from "../../types.js";
import type { GroupId } from "../group-id.js";
import type { NodeWal, WalAppend } from "../node-wal.js";
import type { WalModel } from "./wal-model.js";
import { makeEntries } from "./wal-model.js";

/**
 * Abstract operations for property tests. Their numbers are choices, turned
 * into valid calls against the log's current state by `toCall`, so any
 * generated sequence is a legal history (terms never decrease, committed
 * entries are never overwritten, ...).
 */
export interface AppendItemChoice {
  readonly group: GroupId;
  /** How far before the end of the log the append starts (overwriting an uncommitted suffix). */
  readonly back: number;
  readonly count: number;
  readonly dataBytes: number;
  readonly newTerm: boolean;
  readonly withHardState: boolean;
  readonly commitAdvance: number;
  readonly voteFor: number;
}

export type WalOp =
  | { readonly kind: "append"; readonly items: readonly AppendItemChoice[]; readonly sync: boolean }
  | { readonly kind: "compact"; readonly group: GroupId; readonly mode: "local" | "install" | "conflict"; readonly offset: number }
  | { readonly kind: "drop"; readonly group: GroupId };

interface GroupState {
  snapshotIndex: number;
  lastIndex: number;
  hardState: HardState;
  lastTerm: number;
  termAt(index: number): number;
}

function groupState(wal: NodeWal, group: GroupId): GroupState {
  if (!wal.groups().includes(group)) {
    return { snapshotIndex: 0, lastIndex: 0, hardState: { term: 0 as Term, vote: undefined, commit: 0 as LogIndex }, lastTerm: 0, termAt: () => 0 };
  }
  const storage = wal.storage(group);
  return {
    snapshotIndex: storage.snapshotIndex(),
    lastIndex: storage.lastIndex(),
    hardState: storage.hardState(),
    lastTerm: storage.term(storage.lastIndex()),
    termAt: (index) => storage.term(index as LogIndex),
  };
}

/** Applies `op` to both the log and the model; resolves when the log call does. */
export function applyOp(wal: NodeWal, model: WalModel, op: WalOp, seed: number): Promise<void> {
  if (op.kind === "append") {
    const batch = appendBatch(wal, op.items, seed);
    const done = wal.append(batch, op.sync);
    model.append(batch);
    return done;
  }
  if (op.kind === "drop") {
    const done = wal.dropGroup(op.group);
    model.drop(op.group);
    return done;
  }
  const { index, term } = compactPoint(groupState(wal, op.group), op);
  const done = wal.compact(op.group, index as LogIndex, term as Term);
  model.compact(op.group, index, term);
  return done;
}

function appendBatch(wal: NodeWal, items: readonly AppendItemChoice[], seed: number): WalAppend[] {
  const seen = new Set<GroupId>();
  const batch: WalAppend[] = [];
  for (const item of items) {
    if (seen.has(item.group)) continue;
    seen.add(item.group);
    const state = groupState(wal, item.group);
    const term = Math.max(1, state.hardState.term, state.lastTerm) + (item.newTerm ? 1 : 0);
    const first = Math.max(state.hardState.commit + 1, state.snapshotIndex + 1, state.lastIndex + 1 - item.back);
    const entries = makeEntries(first, item.count, term, item.dataBytes, seed);
    const lastAfter = item.count > 0 ? first + item.count - 1 : state.lastIndex;
    let hardState: HardState | undefined;
    if (item.withHardState) {
      const keepVote = term === state.hardState.term && state.hardState.vote !== undefined;
      const vote = keepVote ? state.hardState.vote : item.voteFor === 0 ? undefined : (`n${item.voteFor}` as NodeId);
      const commit = Math.max(state.hardState.commit, Math.min(lastAfter, state.hardState.commit + item.commitAdvance));
      hardState = { term: term as Term, vote, commit: commit as LogIndex };
    }
    batch.push(hardState === undefined ? { group: item.group, entries } : { group: item.group, entries, hardState });
  }
  return batch;
}

/** local: a snapshot of committed entries; install: a leader's snapshot past the log; conflict: one disagreeing with an uncommitted entry. */
function compactPoint(state: GroupState, op: WalOp & { kind: "compact" }): { index: number; term: number } {
  const commit = state.hardState.commit;
  const termMax = Math.max(state.hardState.term, state.lastTerm);
  if (op.mode === "local" && commit > state.snapshotIndex) {
    const index = state.snapshotIndex + 1 + (op.offset % (commit - state.snapshotIndex));
    return { index, term: state.termAt(index) };
  }
  if (op.mode === "conflict" && state.lastIndex > Math.max(commit, state.snapshotIndex)) {
    const low = Math.max(commit, state.snapshotIndex) + 1;
    const index = low + (op.offset % (state.lastIndex - low + 1));
    return { index, term: termMax + 1 };
  }
  return { index: state.lastIndex + 1 + (op.offset % 3), term: termMax + (op.offset % 2) };
}
