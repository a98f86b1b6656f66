import type { SnapshotMetadata } from "./conf-state.js";
import type { Entry } from "./entry.js";
import type { ConfChange } from "./membership/conf-change.js";
import type { LogIndex, NodeId, Term } from "./types.js";

/**
 * Everything that changes a node's state arrives as a message passed to one
 * entry point, `Raft.step`. Messages exchanged between nodes carry the sender's
 * term; local messages (produced by the public methods of `RaftNode`) and the
 * ones a follower forwards to its leader carry term 0, which the term check
 * treats as "not from a peer at some term" (see `Raft.step`).
 */
interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
}

/** Local: start an election now (tests, or the election timer). `transfer` is set by TimeoutNow. */
export interface HupMessage extends Envelope {
  readonly type: "hup";
  readonly transfer: boolean;
}

/** Local: the heartbeat timer fired on the leader. */
export interface BeatMessage extends Envelope {
  readonly type: "beat";
}

/** Local: one election timeout elapsed on the leader; step down unless a quorum was active (thesis §6.2). */
export interface CheckQuorumMessage extends Envelope {
  readonly type: "checkQuorum";
}

/** Local: the host proposes one command. */
export interface ProposeMessage extends Envelope {
  readonly type: "propose";
  readonly data: Uint8Array;
}

/** Local: the host proposes one membership change (thesis §4.1). */
export interface ProposeConfChangeMessage extends Envelope {
  readonly type: "proposeConf";
  readonly change: ConfChange;
}

/** Local on any node, or forwarded follower → leader with term 0 (thesis §6.4). */
export interface ReadIndexMessage extends Envelope {
  readonly type: "readIndex";
  readonly context: Uint8Array;
}

/** Leader → follower: the read index for a forwarded request, once leadership was confirmed. */
export interface ReadIndexResponseMessage extends Envelope {
  readonly type: "readIndexResp";
  readonly context: Uint8Array;
  readonly index: LogIndex;
}

/** Local, or forwarded follower → leader with term 0 (thesis §3.10). */
export interface TransferLeaderMessage extends Envelope {
  readonly type: "transferLeader";
  readonly transferee: NodeId;
}

/** AppendEntries (paper §5.3). `index`/`logTerm` name the entry preceding `entries`. */
export interface AppendMessage extends Envelope {
  readonly type: "app";
  readonly index: LogIndex;
  readonly logTerm: Term;
  readonly entries: readonly Entry[];
  readonly commit: LogIndex;
}

/**
 * AppendEntries result. On success `index` is the last index now known to match
 * the leader. On rejection `index` echoes the rejected `AppendMessage.index`, and
 * the hint lets the leader skip a whole term at a time (paper §5.3, final
 * paragraphs): `conflictTerm` is the follower's term at `index` (0 if its log is
 * shorter) and `conflictIndex` the first index it holds for that term (or its
 * last index + 1).
 */
export interface AppendResponseMessage extends Envelope {
  readonly type: "appResp";
  readonly index: LogIndex;
  readonly reject: boolean;
  readonly conflictTerm: Term;
  readonly conflictIndex: LogIndex;
}

/**
 * RequestVote (paper §5.2) and its PreVote twin (thesis §9.6). For PreVote,
 * `term` is the term the sender would campaign in; its own term is unchanged.
 * `transfer` marks a campaign started by TimeoutNow, which voters honour even
 * inside a leader lease (thesis §3.10).
 */
export interface VoteMessage extends Envelope {
  readonly type: "vote" | "preVote";
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  readonly transfer: boolean;
}

export interface VoteResponseMessage extends Envelope {
  readonly type: "voteResp" | "preVoteResp";
  readonly reject: boolean;
}

/**
 * Leader → follower. `commit` is capped at what the follower is known to hold.
 * `readRound` is the newest ReadIndex round started before this heartbeat was sent
 * (0 if none); acknowledging it confirms leadership for that round (thesis §6.4).
 */
export interface HeartbeatMessage extends Envelope {
  readonly type: "heartbeat";
  readonly commit: LogIndex;
  readonly readRound: number;
}

export interface HeartbeatResponseMessage extends Envelope {
  readonly type: "heartbeatResp";
  readonly readRound: number;
}

/** Leader → transfer target: campaign now, skipping PreVote and leases (thesis §3.10). */
export interface TimeoutNowMessage extends Envelope {
  readonly type: "timeoutNow";
}

/**
 * Leader → follower: install the snapshot `snapshot` names (thesis §5.3,
 * InstallSnapshot). It carries metadata only. The leader's host streams the
 * state-machine snapshot's data to the follower's host out of band, in chunks;
 * the follower's host steps this message into its core only once it holds all
 * of the data. Not a `PeerMessage`: it leaves through `Ready.snapshotsToSend`.
 */
export interface SnapshotMessage extends Envelope {
  readonly type: "snapshot";
  readonly snapshot: SnapshotMetadata;
}

/**
 * Local on the leader (`RaftNode.reportSnapshot`): the host's transfer of a
 * snapshot to `from` finished; `reject` if it failed. The follower's progress
 * leaves the snapshot state either way.
 */
export interface SnapshotStatusMessage extends Envelope {
  readonly type: "snapshotStatus";
  readonly reject: boolean;
}

export type LocalMessage = HupMessage | BeatMessage | CheckQuorumMessage | ProposeMessage | ProposeConfChangeMessage | SnapshotStatusMessage;

/** Messages one node sends to another. */
export type PeerMessage =
  | AppendMessage
  | AppendResponseMessage
  | VoteMessage
  | VoteResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage
  | TransferLeaderMessage
  | TimeoutNowMessage;

/** What a host may step into a node: a peer's message, or a snapshot whose data it received. */
export type InboundMessage = PeerMessage | SnapshotMessage;

export type Message = LocalMessage | PeerMessage | SnapshotMessage;

export type MessageType = Message["type"];

const LOCAL_ONLY_TYPES: ReadonlySet<MessageType> = new Set<MessageType>(["hup", "beat", "checkQuorum", "propose", "proposeConf", "snapshotStatus"]);

/** True for messages that only a node's own public methods may create. */
export function isLocalOnly(message: Message): message is LocalMessage {
  return LOCAL_ONLY_TYPES.has(message.type);
}
