import { VOTERS_MAX } from "../config.js";
import type { ConfChange } from "../membership/conf-change.js";
import { encodeConfChange, validateConfChange } from "../membership/conf-change.js";
import type { AppendResponseMessage, HeartbeatResponseMessage, Message, ReadIndexMessage, SnapshotStatusMessage } from "../message.js";
import { assert } from "../assert.js";
import type { Raft } from "../raft.js";
import type { Dropped } from "../rejection.js";
import { dropped } from "../rejection.js";
import type { LogIndex, NodeId } from "../types.js";
import { TERM_NONE } from "../types.js";

/** Leader message handler (paper Figure 2, "Leaders"). */
export function stepLeader(raft: Raft, message: Message): Dropped | undefined {
  switch (message.type) {
    case "beat":
      broadcastHeartbeats(raft, raft.readOnly.lastStartedRound);
      return undefined;
    case "checkQuorum":
      checkQuorum(raft);
      return undefined;
    case "propose":
      return propose(raft, message.data);
    case "proposeConf":
      return proposeConfChange(raft, message.change);
    case "readIndex":
      return readIndex(raft, message);
    case "transferLeader":
      return transferLeader(raft, message.transferee);
    case "appResp":
      handleAppendResponse(raft, message);
      return undefined;
    case "heartbeatResp":
      handleHeartbeatResponse(raft, message);
      return undefined;
    case "snapshotStatus":
      handleSnapshotStatus(raft, message);
      return undefined;
    default:
      // Vote responses after winning, our own term's stale messages: nothing to do.
      return undefined;
  }
}

/** Leader tick: heartbeats, and once per election timeout the quorum check and transfer deadline. */
export function tickHeartbeat(raft: Raft): void {
  raft.heartbeatElapsedTicks += 1;
  raft.electionElapsedTicks += 1;
  if (raft.electionElapsedTicks >= raft.config.electionTimeoutTicks) {
    raft.electionElapsedTicks = 0;
    if (raft.config.checkQuorum) {
      raft.step({ type: "checkQuorum", from: raft.id, to: raft.id, term: TERM_NONE });
      if (raft.role !== "leader") return;
    }
    // Thesis §3.10: a transfer that did not finish within an election timeout is abandoned.
    if (raft.leadTransferee !== undefined) raft.abortLeaderTransfer();
  }
  if (raft.heartbeatElapsedTicks >= raft.config.heartbeatIntervalTicks) {
    raft.heartbeatElapsedTicks = 0;
    raft.step({ type: "beat", from: raft.id, to: raft.id, term: TERM_NONE });
  }
}

/** Thesis §6.2: a leader that did not hear from a quorum within an election timeout steps down. */
function checkQuorum(raft: Raft): void {
  if (!raft.tracker.quorumActive(raft.id)) {
    raft.becomeFollower(raft.term, undefined);
    return;
  }
  raft.tracker.clearRecentActive(raft.id);
}

function propose(raft: Raft, data: Uint8Array): Dropped | undefined {
  if (raft.leadTransferee !== undefined) return dropped("transferring-leadership", raft.leadTransferee);
  if (data.byteLength > raft.config.entryBytesMax) return dropped("entry-too-large", raft.id);
  const limit = raft.config.uncommittedEntriesBytesMax;
  // An empty backlog always admits one entry, however large, so progress is possible.
  if (raft.uncommittedBytes > 0 && raft.uncommittedBytes + data.byteLength > limit) return dropped("uncommitted-limit", raft.id);
  raft.appendEntry("command", data);
  return undefined;
}

/**
 * Thesis §4.1: one membership change at a time. A change is appended only
 * once the previous one committed, and only after this leader committed an
 * entry of its own term: without that, a change appended by a new leader could
 * overlap an uncommitted change of a deposed one, and the two configurations'
 * majorities need not intersect (the flaw in single-server changes reported on
 * the raft-dev list in 2015; the no-op each leader commits first fixes it).
 */
function proposeConfChange(raft: Raft, change: ConfChange): Dropped | undefined {
  if (raft.leadTransferee !== undefined) return dropped("transferring-leadership", raft.leadTransferee);
  if (raft.log.configs.latestIndex() > raft.log.committed)
    return dropped("config-change-pending", raft.id, "the previous membership change is not committed yet");
  if (!raft.committedEntryInCurrentTerm()) return dropped("config-change-pending", raft.id, "this leader has not committed an entry of its term yet");
  const invalid = validateConfChange(raft.log.configs.latest(), change, VOTERS_MAX);
  if (invalid !== undefined) return dropped("invalid-config-change", raft.id, invalid);
  raft.appendEntry("config", encodeConfChange(change));
  return undefined;
}

/** Thesis §6.4, ReadIndex, steps 1–2. */
function readIndex(raft: Raft, message: ReadIndexMessage): Dropped | undefined {
  const request = { context: message.context, from: message.from };
  if (raft.readOnly.isFull()) return dropped("read-queue-full", raft.id);
  if (!raft.committedEntryInCurrentTerm() && raft.bugs.readIndexBeforeOwnTermCommit !== true) {
    // Our commit index may be stale until an entry of our term commits.
    raft.readOnly.wait(request);
  } else {
    raft.readOnly.register(request, raft.log.committed);
  }
  return undefined;
}

/** Thesis §3.10, leadership transfer. */
function transferLeader(raft: Raft, transferee: NodeId): Dropped | undefined {
  if (!raft.tracker.isVoter(transferee)) return dropped("not-a-voter", raft.id);
  if (transferee === raft.id || transferee === raft.leadTransferee) return undefined;
  // The transfer must finish within one election timeout, measured from now.
  raft.electionElapsedTicks = 0;
  raft.leadTransferee = transferee;
  if (raft.tracker.progress(transferee).match === raft.log.lastIndex()) sendTimeoutNow(raft, transferee);
  else sendAppends(raft, transferee, true);
  return undefined;
}

function sendTimeoutNow(raft: Raft, to: NodeId): void {
  raft.send({ type: "timeoutNow", from: raft.id, to, term: raft.term });
}

function handleAppendResponse(raft: Raft, message: AppendResponseMessage): void {
  // Not a member (any more): nothing to track.
  const progress = raft.tracker.maybeProgress(message.from);
  if (progress === undefined) return;
  progress.recentActive = true;
  if (message.reject) {
    if (progress.maybeDecrTo(message.index, nextAfterRejection(raft, message))) {
      if (progress.state === "replicate") progress.becomeProbe();
      sendAppends(raft, message.from, false);
    }
    return;
  }
  const updated = progress.maybeUpdate(message.index);
  // A probe answered at exactly our match index also proves where the logs agree.
  const probeConfirmed = progress.state === "probe" && progress.match === message.index;
  if (!updated && !probeConfirmed) return;
  if (progress.state === "probe") progress.becomeReplicate();
  else if (progress.state === "replicate") progress.inflights.freeLE(message.index);
  else if (progress.match + 1 >= raft.log.firstIndex()) progress.becomeReplicate(); // the snapshot (or enough of the log) arrived
  raft.maybeCommit();
  sendAppends(raft, message.from, false);
  if (message.from === raft.leadTransferee && progress.match === raft.log.lastIndex()) {
    // The target has our whole log; it can win an election right away.
    sendTimeoutNow(raft, message.from);
  }
}

/**
 * Fast back-off (paper §5.3, last paragraphs): if we hold entries of the
 * follower's conflicting term, retry right after our last one; otherwise skip
 * the follower's whole run of that term.
 */
function nextAfterRejection(raft: Raft, message: AppendResponseMessage): LogIndex {
  if (message.conflictTerm === TERM_NONE) return message.conflictIndex;
  const ours = raft.log.lastIndexAtOrBelowTerm(message.index, message.conflictTerm);
  return ours.term === message.conflictTerm ? ((ours.index + 1) as LogIndex) : message.conflictIndex;
}

function handleHeartbeatResponse(raft: Raft, message: HeartbeatResponseMessage): void {
  const progress = raft.tracker.maybeProgress(message.from);
  if (progress === undefined) return;
  progress.recentActive = true;
  if (progress.state !== "snapshot") progress.probeSent = false;
  if (progress.state !== "snapshot" && progress.match < raft.log.lastIndex()) {
    if (progress.isPaused()) {
      // A full window may hold only lost messages. An empty append at our next
      // index costs no slot: the follower either acknowledges it or rejects it,
      // and a rejection sends us back to probing from its real position.
      sendAppend(raft, message.from, true, true);
    } else {
      // sendIfEmpty: even with nothing new to send, find out whether earlier
      // appends arrived (they may all have been lost).
      sendAppends(raft, message.from, true);
    }
  }
  if (message.readRound > progress.readRoundAcked) {
    progress.readRoundAcked = message.readRound;
    releaseConfirmedReads(raft);
  }
}

/**
 * The host finished sending a snapshot. Either way, probe again, but only after
 * the follower's answer or the next heartbeat: after a success the follower's
 * acknowledgement is on its way; after a failure, the next probe finds the
 * follower still behind our log and sends a snapshot again.
 */
function handleSnapshotStatus(raft: Raft, message: SnapshotStatusMessage): void {
  const progress = raft.tracker.maybeProgress(message.from);
  if (progress === undefined || progress.state !== "snapshot") return;
  if (message.reject) progress.pendingSnapshot = 0 as LogIndex;
  progress.becomeProbe();
  progress.probeSent = true;
}

/** Thesis §6.4 step 3: answer every read whose round a quorum acknowledged. */
export function releaseConfirmedReads(raft: Raft): void {
  for (const read of raft.readOnly.release(raft.tracker.confirmedReadRound())) {
    if (read.from === raft.id) raft.readStates.push({ index: read.index, context: read.context });
    else raft.send({ type: "readIndexResp", from: raft.id, to: read.from, term: raft.term, context: read.context, index: read.index });
  }
}

/**
 * Asks the host to send our latest snapshot (thesis §5.3). Not to a follower
 * we have not heard from since the last quorum check: it may be down, and a
 * snapshot is costly. Appends to it pause until the transfer is reported.
 */
function sendSnapshot(raft: Raft, to: NodeId): boolean {
  const progress = raft.tracker.progress(to);
  if (!progress.recentActive) return false;
  // A snapshot we received but have not persisted yet is not ours to send.
  if (raft.log.pendingSnapshot() !== undefined) return false;
  const stored = raft.log.storage.snapshot();
  assert(stored.index >= progress.next - 1, "a snapshot is sent only when the follower's next entry is compacted");
  // The membership at the snapshot, as our log knows it (storage written by an older format may lack it).
  const snapshot = { index: stored.index, term: stored.term, confState: raft.log.configs.at(stored.index) };
  progress.becomeSnapshot(snapshot.index);
  raft.sendSnapshot({ type: "snapshot", from: raft.id, to, term: raft.term, snapshot });
  return true;
}

/** To every member, learners included: they receive the log but are not counted (thesis §4.2.1). */
export function broadcastAppends(raft: Raft): void {
  for (const id of raft.tracker.members) if (id !== raft.id) sendAppends(raft, id, true);
}

export function broadcastHeartbeats(raft: Raft, readRound: number): void {
  for (const id of raft.tracker.members) {
    if (id === raft.id) continue;
    // Never tell a follower to commit past what it is known to hold.
    const commit = Math.min(raft.tracker.progress(id).match, raft.log.committed) as LogIndex;
    raft.send({ type: "heartbeat", from: raft.id, to: id, term: raft.term, commit, readRound });
  }
}

/**
 * Sends as many appends as the follower's state allows: one probe, or enough to
 * fill the inflight window (pipelining). `sendIfEmpty` sends an empty append
 * just to carry the commit index.
 */
function sendAppends(raft: Raft, to: NodeId, sendIfEmpty: boolean): void {
  const progress = raft.tracker.progress(to);
  let allowEmpty = sendIfEmpty;
  for (let sent = 0; sent <= raft.config.inflightMessagesMax; sent += 1) {
    if (!sendAppend(raft, to, allowEmpty)) return;
    allowEmpty = false;
    if (progress.state === "probe" || progress.next > raft.log.lastIndex()) return;
  }
}

/** Sends one append from the follower's next index; `emptyOnly` sends no entries even if paused. */
function sendAppend(raft: Raft, to: NodeId, sendIfEmpty: boolean, emptyOnly = false): boolean {
  const progress = raft.tracker.progress(to);
  if (progress.isPaused() && !emptyOnly) return false;
  const prevIndex = (progress.next - 1) as LogIndex;
  const prevTerm = raft.log.term(prevIndex);
  // The follower needs entries we compacted away (thesis §5.1): only a snapshot can catch it up.
  if (prevTerm === undefined) return sendSnapshot(raft, to);
  const last = raft.log.lastIndex();
  const entries = progress.next <= last && !emptyOnly ? raft.log.entries(progress.next, (last + 1) as LogIndex, raft.config.messageBytesMax) : [];
  if (entries.length === 0 && !sendIfEmpty) return false;
  raft.send({ type: "app", from: raft.id, to, term: raft.term, index: prevIndex, logTerm: prevTerm, entries, commit: raft.log.committed });
  progress.sentEntries((prevIndex + entries.length) as LogIndex, entries.length);
  return true;
}
