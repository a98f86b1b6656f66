import { decodeSideFrame, encodeSideFrame, isSideFrame } from "./side-frames.js";

/** Access samples travel as PeerBatch frames that hold only `access_samples` (field 3). */
const ACCESS_SAMPLES = 3;

export function isAccessSamplesFrame(payload: Uint8Array): boolean {
  return isSideFrame(payload, ACCESS_SAMPLES);
}

export function encodeAccessSamples(samples: ReadonlyMap<number, readonly string[]>): Uint8Array {
  return encodeSideFrame({ accessSamples: [...samples].map(([group, keys]) => ({ group, keys: keys.slice() })) });
}

export function decodeAccessSamples(payload: Uint8Array): Map<number, string[]> {
  return new Map(decodeSideFrame(payload, "access samples").accessSamples.map((s) => [s.group, s.keys]));
}
