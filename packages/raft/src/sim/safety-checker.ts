import type { Entry } from "../entry.js";
import type { LogIndex, NodeId, Term } from "../types.js";
import { entryIdentity } from "./kv-state-machine.js";

export type SafetyProperty = "election-safety" | "log-matching" | "leader-completeness" | "state-machine-safety" | "commit-quorum";

/** A broken invariant; the simulator stops at the first one. */
export class SafetyViolation extends Error {
  override readonly name = "SafetyViolation";
  readonly property: SafetyProperty;

  constructor(property: SafetyProperty, message: string) {
    super(`${property}: ${message}`);
    this.property = property;
  }
}

interface CommittedRecord {
  readonly term: Term;
  /** Lowest leader term known to have committed this index. */
  commitTerm: Term;
}

/**
 * The properties of the Raft paper's Figure 3, checked incrementally over the
 * whole history of the run (crashed nodes' past included):
 *  - Election Safety: at most one leader per term.
 *  - Log Matching: an (index, term) pair names one entry, and one predecessor
 *    term; by induction, logs agreeing on an entry agree on everything before it.
 *  - Leader Completeness: a leader of term T holds every entry committed in a
 *    term below T.
 *  - State Machine Safety: no two nodes apply different entries at an index.
 */
export class SafetyChecker {
  private readonly leaderByTerm = new Map<Term, NodeId>();
  private readonly entryByPosition = new Map<string, string>();
  private readonly appliedByIndex: string[] = [];
  private readonly committed: CommittedRecord[] = [];
  private readonly snapshotDigestByIndex = new Map<LogIndex, string>();
  electionCount = 0;

  /**
   * Call when `node` is leader in `term`; its log starts after `snapshotIndex`
   * (entries up to it are in its snapshot, whose contents `observeSnapshot`
   * checks). Returns true the first time this leadership is seen.
   */
  observeLeader(node: NodeId, term: Term, termAt: (index: LogIndex) => Term | undefined, snapshotIndex: LogIndex = 0 as LogIndex): boolean {
    const known = this.leaderByTerm.get(term);
    if (known !== undefined) {
      if (known !== node) throw new SafetyViolation("election-safety", `${known} and ${node} both lead term ${term}`);
      return false;
    }
    this.leaderByTerm.set(term, node);
    this.electionCount += 1;
    this.checkLeaderCompleteness(node, term, termAt, snapshotIndex);
    return true;
  }

  private checkLeaderCompleteness(node: NodeId, term: Term, termAt: (index: LogIndex) => Term | undefined, snapshotIndex: LogIndex): void {
    for (let i = Math.max(1, snapshotIndex); i < this.committed.length; i += 1) {
      const record = this.committed[i];
      if (record === undefined || record.commitTerm >= term) continue;
      const held = termAt(i as LogIndex);
      if (held !== record.term) {
        throw new SafetyViolation(
          "leader-completeness",
          `${node} leads term ${term} but holds term ${held ?? "none"} at index ${i}, committed with term ${record.term} in term ${record.commitTerm}`,
        );
      }
    }
  }

  /** Entries entering `node`'s log; `prevTerm` is the term of the entry before the first one. */
  observeAppend(node: NodeId, entries: readonly Entry[], prevTerm: Term): void {
    let previous = prevTerm;
    for (const entry of entries) {
      const position = `${entry.index}/${entry.term}`;
      const identity = `${previous}|${entryIdentity(entry)}`;
      const known = this.entryByPosition.get(position);
      if (known === undefined) this.entryByPosition.set(position, identity);
      else if (known !== identity) {
        throw new SafetyViolation("log-matching", `${node} holds ${position} as [${identity}], another log as [${known}]`);
      }
      previous = entry.term;
    }
  }

  /** A leader of `leaderTerm` advanced its commit index to `commit`. */
  observeLeaderCommit(leaderTerm: Term, from: LogIndex, commit: LogIndex, termAt: (index: LogIndex) => Term | undefined): void {
    for (let i = from + 1; i <= commit; i += 1) {
      const term = termAt(i as LogIndex);
      if (term === undefined) continue;
      const record = this.committed[i];
      if (record === undefined) this.committed[i] = { term, commitTerm: leaderTerm };
      else if (record.term !== term) {
        throw new SafetyViolation("state-machine-safety", `index ${i} committed with term ${record.term} and with term ${term}`);
      } else if (leaderTerm < record.commitTerm) record.commitTerm = leaderTerm;
    }
  }

  /**
   * A leader counted replicas and advanced its commit index to `index` (term
   * `term`) under the configuration in force, whose voters are `voters`: a
   * majority of those voters must hold that entry durably (paper §5.3, thesis
   * §4.1; learners and removed servers never count). `holds(voter)` reads the
   * voter's stable storage.
   */
  observeQuorumCommit(leader: NodeId, index: LogIndex, term: Term, voters: readonly NodeId[], holds: (voter: NodeId) => boolean): void {
    let count = 0;
    for (const voter of voters) if (holds(voter)) count += 1;
    if (count < Math.floor(voters.length / 2) + 1) {
      throw new SafetyViolation("commit-quorum", `${leader} committed ${index}/${term} but only ${count} of its voters [${voters.join(",")}] hold it durably`);
    }
  }

  /** `node` applies `entry`. */
  observeApply(node: NodeId, entry: Entry): void {
    const identity = `${entry.term}|${entryIdentity(entry)}`;
    const known = this.appliedByIndex[entry.index];
    if (known === undefined) this.appliedByIndex[entry.index] = identity;
    else if (known !== identity) {
      throw new SafetyViolation("state-machine-safety", `${node} applies [${identity}] at index ${entry.index}, another node applied [${known}]`);
    }
  }

  /**
   * A state-machine snapshot at (index, term) with contents `digest` was taken
   * or installed. Every snapshot at an index must hold the same contents, and
   * its term must be that of the entry applied there (State Machine Safety,
   * extended to snapshots: thesis §5.1).
   */
  observeSnapshot(node: NodeId, index: LogIndex, term: Term, digest: string): void {
    const known = this.snapshotDigestByIndex.get(index);
    if (known === undefined) this.snapshotDigestByIndex.set(index, digest);
    else if (known !== digest)
      throw new SafetyViolation("state-machine-safety", `${node} holds a snapshot at ${index} whose contents differ from another node's`);
    const applied = this.appliedByIndex[index];
    if (applied !== undefined && !applied.startsWith(`${term}|`)) {
      throw new SafetyViolation("state-machine-safety", `${node} holds a snapshot at ${index} of term ${term}, but [${applied}] was applied there`);
    }
  }

  get appliedCount(): number {
    return this.appliedByIndex.length === 0 ? 0 : this.appliedByIndex.length - 1;
  }
}
