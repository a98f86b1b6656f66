import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EntryKind, EntrySchema, MessageType, PeerBatchSchema, RaftMessageSchema, type RaftMessage } from "@distcache/proto/raft";
import { asLogIndex, asNodeId, asTerm, type Entry, type NodeId, type PeerMessage } from "@distcache/raft";

/*
 * The peer protocol through the generated protobuf code. The node uses the faster
 * hand-written codec in peer-wire.ts; this one is the reference its tests compare
 * against, byte for byte.
 */

/** A Raft message with the group it belongs to. */
export interface GroupMessage {
  group: number;
  message: PeerMessage;
  clusterTimeMs?: number;
}

const TYPE_TO_WIRE: Record<PeerMessage["type"], MessageType> = {
  app: MessageType.APPEND,
  appResp: MessageType.APPEND_RESPONSE,
  vote: MessageType.VOTE,
  voteResp: MessageType.VOTE_RESPONSE,
  preVote: MessageType.PRE_VOTE,
  preVoteResp: MessageType.PRE_VOTE_RESPONSE,
  heartbeat: MessageType.HEARTBEAT,
  heartbeatResp: MessageType.HEARTBEAT_RESPONSE,
  readIndex: MessageType.READ_INDEX,
  readIndexResp: MessageType.READ_INDEX_RESPONSE,
  transferLeader: MessageType.TRANSFER_LEADER,
  timeoutNow: MessageType.TIMEOUT_NOW,
};
const WIRE_TO_TYPE = new Map<MessageType, PeerMessage["type"]>(Object.entries(TYPE_TO_WIRE).map(([k, v]) => [v, k as PeerMessage["type"]]));

export class PeerDecodeError extends Error {
  override name = "PeerDecodeError";
}

/** Encodes messages for one destination as a binary PeerBatch. */
export function encodePeerBatch(messages: readonly GroupMessage[]): Uint8Array {
  return toBinary(PeerBatchSchema, create(PeerBatchSchema, { messages: messages.map(toWire) }));
}

function toWire({ group, message: m, clusterTimeMs }: GroupMessage): RaftMessage {
  const wire = create(RaftMessageSchema);
  wire.group = group;
  wire.clusterTimeMs = BigInt(clusterTimeMs ?? 0);
  wire.type = TYPE_TO_WIRE[m.type];
  wire.to = m.to;
  wire.term = BigInt(m.term);
  switch (m.type) {
    case "app":
      wire.index = BigInt(m.index);
      wire.logTerm = BigInt(m.logTerm);
      wire.commit = BigInt(m.commit);
      wire.entries = m.entries.map((e) =>
        create(EntrySchema, {
          term: BigInt(e.term),
          index: BigInt(e.index),
          kind: e.kind === "noop" ? EntryKind.NOOP : e.kind === "config" ? EntryKind.CONFIG : EntryKind.COMMAND,
          data: e.data,
        }),
      );
      break;
    case "appResp":
      wire.index = BigInt(m.index);
      wire.reject = m.reject;
      wire.conflictTerm = BigInt(m.conflictTerm);
      wire.conflictIndex = BigInt(m.conflictIndex);
      break;
    case "vote":
    case "preVote":
      wire.lastLogIndex = BigInt(m.lastLogIndex);
      wire.lastLogTerm = BigInt(m.lastLogTerm);
      wire.transfer = m.transfer;
      break;
    case "voteResp":
    case "preVoteResp":
      wire.reject = m.reject;
      break;
    case "heartbeat":
      wire.commit = BigInt(m.commit);
      wire.readRound = BigInt(m.readRound);
      break;
    case "heartbeatResp":
      wire.readRound = BigInt(m.readRound);
      break;
    case "readIndex":
      wire.context = m.context;
      break;
    case "readIndexResp":
      wire.context = m.context;
      wire.index = BigInt(m.index);
      break;
    case "transferLeader":
      wire.transferee = m.transferee;
      break;
    case "timeoutNow":
      break;
  }
  return wire;
}

/** Decodes a PeerBatch sent by the authenticated node `from` to this node `self`. */
export function decodePeerBatch(bytes: Uint8Array, from: NodeId, self: NodeId): GroupMessage[] {
  let batch;
  try {
    batch = fromBinary(PeerBatchSchema, bytes);
  } catch (err) {
    throw new PeerDecodeError(`malformed peer batch from ${from}: ${(err as Error).message}`);
  }
  return batch.messages.map((wire) => {
    if (wire.to !== self) throw new PeerDecodeError(`peer ${from} sent a message for ${wire.to} to ${self}`);
    const message = fromWire(wire, from);
    if (wire.clusterTimeMs === 0n) return { group: wire.group, message };
    return { group: wire.group, message, clusterTimeMs: safeNumber(wire.clusterTimeMs, "cluster time") };
  });
}

function safeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new PeerDecodeError(`${what} ${value} exceeds the safe integer range`);
  return Number(value);
}

function fromWire(w: RaftMessage, from: NodeId): PeerMessage {
  const type = WIRE_TO_TYPE.get(w.type);
  if (!type) throw new PeerDecodeError(`unknown message type ${w.type} from ${from}`);
  const base = { from, to: asNodeId(w.to), term: asTerm(safeNumber(w.term, "term")) };
  switch (type) {
    case "app":
      return {
        ...base,
        type,
        index: asLogIndex(safeNumber(w.index, "index")),
        logTerm: asTerm(safeNumber(w.logTerm, "log term")),
        commit: asLogIndex(safeNumber(w.commit, "commit")),
        entries: w.entries.map((e): Entry => ({
          term: asTerm(safeNumber(e.term, "entry term")),
          index: asLogIndex(safeNumber(e.index, "entry index")),
          kind: e.kind === EntryKind.NOOP ? "noop" : e.kind === EntryKind.CONFIG ? "config" : "command",
          data: e.data,
        })),
      };
    case "appResp":
      return {
        ...base,
        type,
        index: asLogIndex(safeNumber(w.index, "index")),
        reject: w.reject,
        conflictTerm: asTerm(safeNumber(w.conflictTerm, "conflict term")),
        conflictIndex: asLogIndex(safeNumber(w.conflictIndex, "conflict index")),
      };
    case "vote":
    case "preVote":
      return {
        ...base,
        type,
        lastLogIndex: asLogIndex(safeNumber(w.lastLogIndex, "last log index")),
        lastLogTerm: asTerm(safeNumber(w.lastLogTerm, "last log term")),
        transfer: w.transfer,
      };
    case "voteResp":
    case "preVoteResp":
      return { ...base, type, reject: w.reject };
    case "heartbeat":
      return { ...base, type, commit: asLogIndex(safeNumber(w.commit, "commit")), readRound: safeNumber(w.readRound, "read round") };
    case "heartbeatResp":
      return { ...base, type, readRound: safeNumber(w.readRound, "read round") };
    case "readIndex":
      return { ...base, type, context: w.context };
    case "readIndexResp":
      return { ...base, type, context: w.context, index: asLogIndex(safeNumber(w.index, "index")) };
    case "transferLeader":
      return { ...base, type, transferee: asNodeId(w.transferee) };
    case "timeoutNow":
      return { ...base, type };
  }
}
