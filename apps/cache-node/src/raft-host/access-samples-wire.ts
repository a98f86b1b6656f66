import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { PeerBatchSchema } from "@distcache/proto/raft";
import { PeerWireError } from "./peer-wire.js";

/**
 * Access samples travel as PeerBatch frames that hold only `access_samples` (field 3),
 * told apart from message batches and snapshot chunks by their first byte. They are
 * small and sent a few times a second, so the generated codec serves them.
 */
const ACCESS_SAMPLES_TAG = (3 << 3) | 2;

export function isAccessSamplesFrame(payload: Uint8Array): boolean {
  return payload.length > 0 && payload[0] === ACCESS_SAMPLES_TAG;
}

export function encodeAccessSamples(samples: ReadonlyMap<number, readonly string[]>): Uint8Array {
  const accessSamples = [...samples].map(([group, keys]) => ({ group, keys: keys.slice() }));
  return toBinary(PeerBatchSchema, create(PeerBatchSchema, { accessSamples }));
}

export function decodeAccessSamples(payload: Uint8Array): Map<number, string[]> {
  let batch;
  try {
    batch = fromBinary(PeerBatchSchema, payload);
  } catch (err) {
    throw new PeerWireError(`malformed access samples frame: ${(err as Error).message}`);
  }
  return new Map(batch.accessSamples.map((s) => [s.group, s.keys]));
}
