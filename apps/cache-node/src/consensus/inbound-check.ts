import type { AppendMessage, InboundMessage, RaftNode, SnapshotMessage } from "@distcache/raft";
import {
  LEARNERS_MAX,
  MEMBERSHIP_BYTES_MAX,
  VOTERS_MAX,
  applyConfChange,
  asLogIndex,
  decodeConfChange,
  membershipBytes,
  normalizeConfState,
  validateConfChange,
} from "@distcache/raft";

/**
 * What a message from a peer must satisfy before it reaches a group's RaftNode. The core
 * asserts its invariants (a commit index past its log, an acknowledgement of entries it
 * never sent, a membership with a node twice...) and an assertion stops the node, so
 * everything a peer can get wrong is refused here, at the wire edge, and the driver
 * closes that peer's connection instead. Peers are authenticated, but a buggy peer, or
 * anyone holding the peer secret, can send anything that decodes.
 *
 * Membership changes: a group's configuration is its own log's, so a message may come
 * from a node that joined it after this replica last looked, or that left it; what the
 * wire may name is any node of the cluster, and nothing else. Membership change entries
 * must decode here, and must be changes a leader could have appended (checked against
 * this replica's log right before they are stepped), since the core asserts on anything
 * else; a membership must fit the write-ahead log's bound (MEMBERSHIP_BYTES_MAX).
 */

/**
 * The largest term, index or read round accepted from a peer. Terms and indexes are
 * counted in safe integers; a node must still be able to add to the largest value it
 * adopts (a new election is term + 1), so peers get 2^52, far above anything real.
 */
export const COUNTER_MAX = 2 ** 52;

/** A ReadIndex context is this node's id, a nonce and a counter (read-context.ts): tens of bytes. */
export const READ_CONTEXT_BYTES_MAX = 256;

function counterProblem(values: Record<string, number>): string | undefined {
  for (const [name, value] of Object.entries(values)) {
    if (!Number.isSafeInteger(value) || value < 0 || value > COUNTER_MAX) return `${name} ${value} is out of range (0 to 2^52)`;
  }
  return undefined;
}

function contextProblem(context: Uint8Array): string | undefined {
  if (context.length === 0) return "an empty read context";
  if (context.length > READ_CONTEXT_BYTES_MAX) return `a read context of ${context.length} bytes (at most ${READ_CONTEXT_BYTES_MAX})`;
  return undefined;
}

function entriesProblem(m: AppendMessage): string | undefined {
  // Log Matching: the entries follow index one by one, and terms never decrease along a
  // log nor exceed the term of the leader sending them.
  let previousTerm: number = m.logTerm;
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i]!;
    if (e.index !== m.index + 1 + i) return `entry ${i} has index ${e.index}, not ${m.index + 1 + i}`;
    if (e.term < 1 || e.term < previousTerm || e.term > m.term)
      return `entry ${e.index} has term ${e.term} (after term ${previousTerm}, sent in term ${m.term})`;
    if (e.kind === "config" && typeof decodeConfChange(e.data) === "string") return `entry ${e.index} is a membership change that does not decode`;
    previousTerm = e.term;
  }
  return undefined;
}

function snapshotProblem(m: SnapshotMessage): string | undefined {
  const { index, term, confState } = m.snapshot;
  const counters = counterProblem({ "snapshot index": index, "snapshot term": term });
  if (counters) return counters;
  if (index < 1 || term < 1 || term > m.term) return `a snapshot at index ${index}, term ${term} sent in term ${m.term}`;
  const conf = normalizeConfState(confState.voters, confState.learners);
  const named = `voters [${confState.voters.join(",")}] learners [${confState.learners.join(",")}]`;
  if (typeof conf === "string") return `a snapshot with ${named}: ${conf}`;
  if (conf.voters.length < 1 || conf.voters.length > VOTERS_MAX || conf.learners.length > LEARNERS_MAX) {
    return `a snapshot with ${named} (1 to ${VOTERS_MAX} voters and at most ${LEARNERS_MAX} learners)`;
  }
  // Its membership is committed state: it may name a node the cluster has forgotten since.
  if (membershipBytes(conf) > MEMBERSHIP_BYTES_MAX) return `a snapshot with ${named}: a membership above ${MEMBERSHIP_BYTES_MAX} B encoded`;
  return undefined;
}

/**
 * Why `message`, from a peer, may never enter a group's node whatever its state;
 * undefined if it may. `nodes` are the nodes of the cluster this node knows.
 */
export function messageProblem(message: InboundMessage, nodes: ReadonlySet<string>): string | undefined {
  const m = message;
  if (!nodes.has(m.from)) return `${m.from} is not a node of the cluster`;
  const term = counterProblem({ term: m.term });
  if (term) return term;
  // Term 0 bypasses the core's term comparison: only requests a follower forwards to its
  // leader carry it, and the rejection a node that never saw a term sends a pre-candidate.
  const forwarded = m.type === "readIndex" || m.type === "transferLeader";
  if (forwarded && m.term !== 0) return `a forwarded ${m.type} carries term ${m.term}, not 0`;
  if (!forwarded && m.term === 0 && !(m.type === "preVoteResp" && m.reject)) return `a ${m.type} without a term`;
  switch (m.type) {
    case "app":
      if (m.logTerm > m.term) return `an append whose previous entry has term ${m.logTerm}, above its term ${m.term}`;
      return counterProblem({ index: m.index, "log term": m.logTerm, commit: m.commit }) ?? entriesProblem(m);
    case "appResp":
      return counterProblem({ index: m.index, "conflict term": m.conflictTerm, "conflict index": m.conflictIndex });
    case "vote":
    case "preVote":
      if (m.lastLogTerm > m.term) return `a ${m.type} whose last entry has term ${m.lastLogTerm}, above its term ${m.term}`;
      return counterProblem({ "last log index": m.lastLogIndex, "last log term": m.lastLogTerm });
    case "heartbeat":
      return counterProblem({ commit: m.commit, "read round": m.readRound });
    case "heartbeatResp":
      return counterProblem({ "read round": m.readRound });
    case "readIndex":
      return contextProblem(m.context);
    case "readIndexResp":
      return contextProblem(m.context) ?? counterProblem({ index: m.index });
    case "transferLeader":
      return nodes.has(m.transferee) ? undefined : `a transfer to ${m.transferee}, not a node of the cluster`;
    case "snapshot":
      return snapshotProblem(m);
    case "voteResp":
    case "preVoteResp":
    case "timeoutNow":
      return undefined;
  }
}

/**
 * Why `message` contradicts the node's own log at this moment (checked right before it
 * is stepped, since the log changes between messages); undefined if it does not.
 */
export function stateProblem(message: InboundMessage, node: RaftNode, nodes: ReadonlySet<string>): string | undefined {
  const m = message;
  if (m.type === "heartbeat") {
    // A leader caps a heartbeat's commit at what the follower holds; past our log it is
    // either garbage or a leader that lost track, and the core cannot commit it.
    // (Past our commit index, termAt is defined exactly up to our last index.)
    if (m.term >= node.term && m.commit > node.commit && node.termAt(m.commit) === undefined)
      return `a heartbeat commits index ${m.commit}, past this replica's log`;
  } else if (m.type === "app") {
    return confChangesProblem(m, node, nodes);
  } else if (m.type === "appResp") {
    // A follower acknowledges only entries this leader sent it in its term: in its log.
    if (!m.reject && node.role === "leader" && m.term === node.term && m.index > node.commit && node.termAt(m.index) === undefined) {
      return `an acknowledgement of index ${m.index}, past the leader's log`;
    }
  }
  return undefined;
}

/**
 * The membership changes an append would add to this replica's log, replayed from the
 * configuration at its previous entry: each must be one the leader could have appended
 * (validateConfChange), and at most one may sit above the commit index (thesis §4.1). An
 * append the core would refuse or ignore (its previous entry does not match, or it ends
 * at or below the commit index) adds nothing and is not checked.
 */
function confChangesProblem(m: AppendMessage, node: RaftNode, nodes: ReadonlySet<string>): string | undefined {
  // Every append passes here: the common one, with no membership change, costs one scan.
  if (!m.entries.some((e) => e.kind === "config")) return undefined;
  if (m.index < node.commit || node.termAt(m.index) !== m.logTerm) return undefined;
  const committed = asLogIndex(Math.max(m.commit, node.commit));
  let uncommitted = committed < m.index ? node.confChangesAbove(committed) - node.confChangesAbove(m.index) : 0;
  let conf = node.confStateAt(m.index);
  for (const e of m.entries) {
    if (e.kind !== "config") continue;
    const change = decodeConfChange(e.data);
    if (typeof change === "string") return `entry ${e.index}: ${change}`;
    // A committed change may name a node the cluster has forgotten since (one that left); a
    // new one may only add a node of the cluster.
    if (e.index > committed && change.kind !== "removeNode" && !nodes.has(change.node)) {
      return `entry ${e.index}: a membership change for ${change.node}, not a node of the cluster`;
    }
    const refused = validateConfChange(conf, change, VOTERS_MAX);
    if (refused) return `entry ${e.index}: a membership change no leader appends (${refused})`;
    if (e.index > committed && ++uncommitted > 1) return `entry ${e.index}: a second membership change above the commit index ${committed}`;
    conf = applyConfChange(conf, change);
  }
  return undefined;
}
