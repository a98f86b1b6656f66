import type { LogIndex, NodeId, Term } from "./types.js";
import { INDEX_NONE, TERM_NONE } from "./types.js";

/**
 * The state a node must persist before it acts on it (Raft paper Figure 2,
 * "persistent state on all servers"). `commit` is persisted too so a restart
 * can re-apply committed entries without waiting for the leader.
 */
export interface HardState {
  readonly term: Term;
  /** Whom this node voted for in `term`; undefined if it has not voted. */
  readonly vote: NodeId | undefined;
  readonly commit: LogIndex;
}

export const EMPTY_HARD_STATE: HardState = { term: TERM_NONE, vote: undefined, commit: INDEX_NONE };

export function isHardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
