import { create } from "@bufbuild/protobuf";
import { SnapshotChunkSchema } from "@distcache/proto/raft";
import { asLogIndex, asNodeId, asTerm, type NodeId, type SnapshotMessage } from "@distcache/raft";
import { SNAPSHOT_CHUNK_BYTES_MAX } from "../../state-machine/shard-state-machine.js";
import { PeerWireError } from "./peer-wire.js";
import { decodeSideFrame, encodeSideFrame, isSideFrame } from "./side-frames.js";

/** Chunks are queued to a peer only while less than this much waits for it (the peer transport's queue holds this and one frame more). */
export const SEND_BACKLOG_BYTES = 4 * 1024 * 1024;

/** Snapshot chunks travel as PeerBatch frames that hold only `snapshot_chunks` (field 2). */
const SNAPSHOT_CHUNKS = 2;
/**
 * What a snapshot frame adds to its chunk at most: tags and lengths, the group, terms and
 * indexes, the destination and the voters and learners (node ids are at most 64 bytes).
 * Generous: a group would need hundreds of members to come near it.
 */
export const SNAPSHOT_FRAME_OVERHEAD_BYTES_MAX = 64 * 1024;
/** The longest snapshot frame: the peer transport's frame and queue limits are derived from it. */
export const SNAPSHOT_FRAME_BYTES_MAX = SNAPSHOT_CHUNK_BYTES_MAX + SNAPSHOT_FRAME_OVERHEAD_BYTES_MAX;

/** One received chunk, checked and converted to the core's types. */
export interface ReceivedChunk {
  group: number;
  /** The SnapshotMessage the whole transfer stands for (from the sender, to this node). */
  message: SnapshotMessage;
  seq: number;
  last: boolean;
  data: Uint8Array;
}

export function isSnapshotFrame(payload: Uint8Array): boolean {
  return isSideFrame(payload, SNAPSHOT_CHUNKS);
}

/** Encodes one chunk of a transfer; a chunk above SNAPSHOT_CHUNK_BYTES_MAX (no snapshot yields one) throws. */
export function encodeSnapshotChunk(group: number, message: SnapshotMessage, seq: number, last: boolean, data: Uint8Array): Uint8Array {
  if (data.length > SNAPSHOT_CHUNK_BYTES_MAX)
    throw new RangeError(`a snapshot chunk of ${data.length} bytes is above SNAPSHOT_CHUNK_BYTES_MAX (${SNAPSHOT_CHUNK_BYTES_MAX})`);
  const { snapshot } = message;
  const chunk = create(SnapshotChunkSchema, {
    group,
    to: message.to,
    term: BigInt(message.term),
    index: BigInt(snapshot.index),
    snapshotTerm: BigInt(snapshot.term),
    voters: snapshot.confState.voters.slice(),
    learners: snapshot.confState.learners.slice(),
    seq,
    last,
    data,
  });
  const frame = encodeSideFrame({ snapshotChunks: [chunk] });
  if (frame.length > SNAPSHOT_FRAME_BYTES_MAX)
    throw new RangeError(`a snapshot frame of ${frame.length} bytes is above SNAPSHOT_FRAME_BYTES_MAX (${SNAPSHOT_FRAME_BYTES_MAX})`);
  return frame;
}

function safe(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new PeerWireError(`snapshot chunk ${what} ${value} is beyond the safe integer range`);
  return Number(value);
}

/** Decodes a snapshot frame sent by the authenticated node `from` to this node `self`. */
export function decodeSnapshotChunks(payload: Uint8Array, from: NodeId, self: NodeId): ReceivedChunk[] {
  return decodeSideFrame(payload, "snapshot").snapshotChunks.map((c) => {
    if (c.to !== self) throw new PeerWireError(`snapshot chunk from ${from} is for ${c.to}, not ${self}`);
    if (c.data.length > SNAPSHOT_CHUNK_BYTES_MAX)
      throw new PeerWireError(`snapshot chunk from ${from} holds ${c.data.length} bytes, above ${SNAPSHOT_CHUNK_BYTES_MAX}`);
    if ([...c.voters, ...c.learners].some((id) => id.length === 0)) throw new PeerWireError(`snapshot chunk from ${from} names a member with an empty id`);
    return {
      group: c.group,
      seq: c.seq,
      last: c.last,
      data: c.data,
      message: {
        type: "snapshot",
        from,
        to: self,
        term: asTerm(safe(c.term, "term")),
        snapshot: {
          index: asLogIndex(safe(c.index, "index")),
          term: asTerm(safe(c.snapshotTerm, "snapshot term")),
          confState: { voters: c.voters.map(asNodeId), learners: c.learners.map(asNodeId) },
        },
      },
    };
  });
}
