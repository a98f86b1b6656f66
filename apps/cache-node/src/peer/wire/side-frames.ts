import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { PeerBatchSchema, type PeerBatch } from "@distcache/proto/raft";
import { PeerWireError } from "./peer-wire.js";

/**
 * Peer frames other than Raft message batches (snapshot chunks, access samples, forwarded
 * calls and their answers) are
 * PeerBatch frames that set a single field: the frame's first byte, that field's tag,
 * tells which. The generated codec serves them: a frame is one snapshot chunk, one
 * forwarded call or answer (its request or response already encoded inside it), or a
 * few sampled keys, so little of a frame's cost is the frame's own encoding.
 */
export type SideFrameField = 2 | 3 | 4 | 5;

export function isSideFrame(payload: Uint8Array, field: SideFrameField): boolean {
  return payload.length > 0 && payload[0] === ((field << 3) | 2);
}

export function encodeSideFrame(batch: MessageInitShape<typeof PeerBatchSchema>): Uint8Array {
  return toBinary(PeerBatchSchema, create(PeerBatchSchema, batch));
}

export function decodeSideFrame(payload: Uint8Array, what: string): PeerBatch {
  try {
    return fromBinary(PeerBatchSchema, payload);
  } catch (err) {
    throw new PeerWireError(`malformed ${what} frame: ${(err as Error).message}`);
  }
}
