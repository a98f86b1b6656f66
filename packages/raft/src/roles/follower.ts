import type { AppendMessage, HeartbeatMessage, Message, SnapshotMessage } from "../message.js";
import type { Raft } from "../raft.js";
import type { Dropped } from "../rejection.js";
import { dropped } from "../rejection.js";
import type { LogIndex, Term } from "../types.js";
import { INDEX_NONE, TERM_NONE } from "../types.js";

/** Follower message handler (paper Figure 2, "Followers"). */
export function stepFollower(raft: Raft, message: Message): Dropped | undefined {
  switch (message.type) {
    case "propose":
    case "proposeConf":
      // Followers never forward proposals: the client retries at the leader.
      return dropped("not-leader", raft.lead);
    case "app":
      raft.electionElapsedTicks = 0;
      raft.lead = message.from;
      handleAppend(raft, message);
      return undefined;
    case "heartbeat":
      raft.electionElapsedTicks = 0;
      raft.lead = message.from;
      handleHeartbeat(raft, message);
      return undefined;
    case "snapshot":
      raft.electionElapsedTicks = 0;
      raft.lead = message.from;
      handleSnapshot(raft, message);
      return undefined;
    case "readIndex":
      // Thesis §6.4: a follower asks the leader for the read index, every time.
      if (raft.lead === undefined) return dropped("not-leader", undefined);
      // Only its own reads: a read another node forwarded here (it took this node for
      // the leader) is dropped. Forwarded on, its answer would come back here, since
      // the leader answers the node a message came from, and settle nothing; the asker
      // fails it once it learns the real leader, and its client retries there.
      if (message.from !== raft.id) return dropped("not-leader", raft.lead);
      raft.send({ type: "readIndex", from: raft.id, to: raft.lead, term: TERM_NONE, context: message.context });
      return undefined;
    case "readIndexResp":
      raft.readStates.push({ index: message.index, context: message.context });
      return undefined;
    case "transferLeader":
      if (raft.lead === undefined) return dropped("not-leader", undefined);
      raft.send({ type: "transferLeader", from: message.from, to: raft.lead, term: TERM_NONE, transferee: message.transferee });
      return undefined;
    case "timeoutNow":
      // Thesis §3.10: the leader chose us; campaign now, skipping PreVote.
      raft.hup(true);
      return undefined;
    default:
      return undefined;
  }
}

/** AppendEntries receiver (paper Figure 2, §5.3). */
export function handleAppend(raft: Raft, message: AppendMessage): void {
  const log = raft.log;
  if (message.index < log.committed) {
    // Everything up to our commit index matches the leader already.
    replyToAppend(raft, message, log.committed, false, TERM_NONE, INDEX_NONE);
    return;
  }
  const lastNewIndex = log.maybeAppend(message.index, message.logTerm, message.commit, message.entries);
  if (lastNewIndex !== undefined) {
    // Sent after the new entries are persisted (Ready step 3): the leader may count this ack toward commit.
    replyToAppend(raft, message, lastNewIndex, false, TERM_NONE, INDEX_NONE);
    return;
  }
  const hint = log.conflictHint(message.index);
  replyToAppend(raft, message, message.index, true, hint.conflictTerm, hint.conflictIndex);
}

function replyToAppend(raft: Raft, message: AppendMessage, index: LogIndex, reject: boolean, conflictTerm: Term, conflictIndex: LogIndex): void {
  // One object literal (no spread) keeps every appResp the same shape, which V8 handles much faster.
  raft.send({ type: "appResp", from: raft.id, to: message.from, term: raft.term, index, reject, conflictTerm, conflictIndex });
}

/**
 * InstallSnapshot receiver (thesis §5.3). The host holds the snapshot's data
 * already; here we decide whether to adopt it. The answer is an append
 * acknowledgement, sent after the snapshot is persisted (Ready step 3).
 */
export function handleSnapshot(raft: Raft, message: SnapshotMessage): void {
  const { index, term } = message.snapshot;
  const log = raft.log;
  if (index <= log.committed) {
    // Stale: we hold everything it covers, committed.
    replyToSnapshot(raft, message, log.committed);
    return;
  }
  if (log.matchTerm(index, term)) {
    // Our log holds the snapshot's last entry, so (Log Matching) everything before it:
    // keep the log, and learn that all of it up to `index` is committed.
    log.commitTo(index);
    replyToSnapshot(raft, message, log.committed);
    return;
  }
  raft.restoreSnapshot(message);
  replyToSnapshot(raft, message, log.lastIndex());
}

function replyToSnapshot(raft: Raft, message: SnapshotMessage, index: LogIndex): void {
  raft.send({ type: "appResp", from: raft.id, to: message.from, term: raft.term, index, reject: false, conflictTerm: TERM_NONE, conflictIndex: INDEX_NONE });
}

export function handleHeartbeat(raft: Raft, message: HeartbeatMessage): void {
  // The leader caps `commit` at our match index, so it never passes our log.
  raft.log.commitTo(message.commit);
  raft.send({ type: "heartbeatResp", from: raft.id, to: message.from, term: raft.term, readRound: message.readRound });
}
