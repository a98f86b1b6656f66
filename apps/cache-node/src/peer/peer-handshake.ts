import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Peer authentication: an HMAC challenge, so the shared secret never crosses the wire.
 *
 *   listener → dialer: MAGIC | u32 version | cluster id (16 bytes) | nonce (32 bytes, fresh per connection)
 *   dialer → listener: MAGIC | u32 version | u8 len | from id | cluster id | incarnation (16 bytes) |
 *                      u8 len | to id | HMAC-SHA256(secret, LABEL | u32 version | cluster id | incarnation | nonce | from | to)
 *   listener → dialer: one byte, ACCEPTED
 *
 * Every version of the protocol starts both messages with MAGIC and the version (and
 * the answer then with the sender's id), so two nodes of different versions can still
 * tell each other why they part: there are no rolling upgrades before 1.0, and a peer
 * that speaks another version, or belongs to another cluster, is refused on both sides
 * with a clear error. The version and the dialer's cluster id are inside what the HMAC
 * covers, so a relay cannot change them. A fresh nonce per connection means a recorded
 * handshake cannot be replayed. The incarnation is drawn once per data dir: a listener
 * that knew the dialer's id under another one refuses it (its data dir was wiped). The connection carries messages one way only, dialer to
 * listener. Frames after the handshake are not encrypted or individually authenticated:
 * run peers on a private network (or behind TLS) when that matters.
 *
 * The version covers everything peers exchange: the handshake, the frames and what they
 * carry (Raft messages, snapshot chunks, access samples, the replicated commands and
 * snapshot formats inside them). Change any of those and the version goes up.
 */
export const PEER_PROTOCOL_VERSION = 4;
export const MAGIC = Buffer.from("DCPV", "latin1");
/** What version 1 (before the handshake carried a version) sent first: its challenge was this magic and a nonce. */
const MAGIC_V1 = Buffer.from("DCP1", "latin1");
/** MAGIC and the u32 version. */
export const PREAMBLE_BYTES = MAGIC.length + 4;
export const CLUSTER_ID_BYTES = 16;
export const NONCE_BYTES = 32;
export const CHALLENGE_BYTES = PREAMBLE_BYTES + CLUSTER_ID_BYTES + NONCE_BYTES;
export const MAC_BYTES = 32;
export const INCARNATION_BYTES = 16;
/** The incarnation an answer carries when its caller names none (tests of the handshake itself). */
const NO_INCARNATION = Buffer.alloc(INCARNATION_BYTES);
export const ACCEPTED = 0x01;
const LABEL = Buffer.from("distcache-peer-v3", "latin1");

function preamble(version = PEER_PROTOCOL_VERSION): Buffer {
  const out = Buffer.alloc(PREAMBLE_BYTES);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(version, MAGIC.length);
  return out;
}

/** A cluster id as the handshake carries it: 16 bytes from 32 hex digits. */
export function clusterIdBytes(clusterId: string | Uint8Array): Buffer {
  const bytes = typeof clusterId === "string" ? Buffer.from(clusterId, "hex") : Buffer.from(clusterId);
  if (bytes.length !== CLUSTER_ID_BYTES || (typeof clusterId === "string" && clusterId.length !== 2 * CLUSTER_ID_BYTES)) {
    throw new RangeError(`a cluster id is ${CLUSTER_ID_BYTES} bytes (${2 * CLUSTER_ID_BYTES} hex digits)`);
  }
  return bytes;
}

export function newChallenge(clusterId: string | Uint8Array): Buffer {
  return Buffer.concat([preamble(), clusterIdBytes(clusterId), randomBytes(NONCE_BYTES)]);
}

export type ParsedChallenge =
  | { state: "partial" }
  | { state: "invalid" }
  /** A listener of another version: the rest of its challenge is not ours to read. */
  | { state: "version"; version: number }
  | { state: "complete"; version: number; clusterId: Buffer; nonce: Buffer };

/** Parses the listener's challenge from the bytes received so far. */
export function parseChallenge(received: Buffer): ParsedChallenge {
  if (received.length < MAGIC.length) return { state: "partial" };
  if (received.subarray(0, MAGIC.length).equals(MAGIC_V1)) return { state: "version", version: 1 };
  if (!received.subarray(0, MAGIC.length).equals(MAGIC)) return { state: "invalid" };
  if (received.length < PREAMBLE_BYTES) return { state: "partial" };
  const version = received.readUInt32LE(MAGIC.length);
  if (version !== PEER_PROTOCOL_VERSION) return { state: "version", version };
  if (received.length < CHALLENGE_BYTES) return { state: "partial" };
  return {
    state: "complete",
    version,
    clusterId: received.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + CLUSTER_ID_BYTES),
    nonce: received.subarray(PREAMBLE_BYTES + CLUSTER_ID_BYTES, CHALLENGE_BYTES),
  };
}

export function mac(
  secret: string,
  version: number,
  ids: { clusterId: Uint8Array; incarnation: Uint8Array },
  nonce: Uint8Array,
  from: string,
  to: string,
): Buffer {
  const versionBytes = Buffer.alloc(4);
  versionBytes.writeUInt32LE(version);
  const hmac = createHmac("sha256", secret).update(LABEL).update(versionBytes).update(ids.clusterId).update(ids.incarnation);
  return hmac.update(nonce).update(idBytes(from)).update(idBytes(to)).digest();
}

function idBytes(id: string): Buffer {
  const bytes = Buffer.from(id, "utf8");
  if (bytes.length === 0 || bytes.length > 255) throw new RangeError(`node id must be 1-255 bytes, got ${bytes.length}`);
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

/**
 * The dialer's answer to a challenge of this version, for its own cluster id (which the
 * listener compares with its own).
 */
export function answer(
  secret: string,
  challenge: Uint8Array,
  from: string,
  to: string,
  clusterId: string | Uint8Array,
  incarnation: Uint8Array = NO_INCARNATION,
): Buffer {
  const nonce = challenge.subarray(PREAMBLE_BYTES + CLUSTER_ID_BYTES, CHALLENGE_BYTES);
  if (nonce.length !== NONCE_BYTES) throw new RangeError("a challenge carries a 32-byte nonce");
  if (incarnation.length !== INCARNATION_BYTES) throw new RangeError(`an incarnation is ${INCARNATION_BYTES} bytes`);
  const id = clusterIdBytes(clusterId);
  const macBytes = mac(secret, PEER_PROTOCOL_VERSION, { clusterId: id, incarnation }, nonce, from, to);
  return Buffer.concat([preamble(), idBytes(from), id, incarnation, idBytes(to), macBytes]);
}

/** What a dialer that speaks another version sends before it closes: the part of the answer every version shares. */
export function versionNotice(from: string): Buffer {
  return Buffer.concat([preamble(), idBytes(from)]);
}

/** Node ids are 1-64 bytes (see the node config), so a longer length prefix is garbage. */
export const ID_BYTES_MAX = 64;
/** The longest well-formed answer: the preamble, two length-prefixed ids of ID_BYTES_MAX, the cluster id and the MAC. */
export const ANSWER_BYTES_MAX = PREAMBLE_BYTES + 2 * (1 + ID_BYTES_MAX) + CLUSTER_ID_BYTES + INCARNATION_BYTES + MAC_BYTES;

export type ParsedAnswer =
  | { state: "partial" }
  | { state: "invalid" }
  /** A dialer of another version; `from` is the id it claims, once it has arrived. */
  | { state: "version"; version: number; from: string | undefined }
  | { state: "complete"; version: number; from: string; clusterId: Buffer; incarnation: Buffer; to: string; macBytes: Buffer; consumed: number };

/** Parses an answer from the bytes received so far. */
export function parseAnswer(received: Buffer): ParsedAnswer {
  if (received.length < MAGIC.length) return { state: "partial" };
  if (!received.subarray(0, MAGIC.length).equals(MAGIC)) return { state: "invalid" };
  if (received.length < PREAMBLE_BYTES) return { state: "partial" };
  const version = received.readUInt32LE(MAGIC.length);
  let at = PREAMBLE_BYTES;
  const fromLength = received[at];
  if (fromLength === undefined) return version === PEER_PROTOCOL_VERSION ? { state: "partial" } : { state: "version", version, from: undefined };
  if (fromLength === 0 || fromLength > ID_BYTES_MAX) {
    return version === PEER_PROTOCOL_VERSION ? { state: "invalid" } : { state: "version", version, from: undefined };
  }
  if (received.length < at + 1 + fromLength) return version === PEER_PROTOCOL_VERSION ? { state: "partial" } : { state: "version", version, from: undefined };
  const from = received.subarray(at + 1, at + 1 + fromLength).toString("utf8");
  if (version !== PEER_PROTOCOL_VERSION) return { state: "version", version, from };
  at += 1 + fromLength;
  if (received.length < at + CLUSTER_ID_BYTES + INCARNATION_BYTES + 1) return { state: "partial" };
  const clusterId = received.subarray(at, at + CLUSTER_ID_BYTES);
  at += CLUSTER_ID_BYTES;
  const incarnation = received.subarray(at, at + INCARNATION_BYTES);
  at += INCARNATION_BYTES;
  const toLength = received[at]!;
  if (toLength === 0 || toLength > ID_BYTES_MAX) return { state: "invalid" };
  const end = at + 1 + toLength + MAC_BYTES;
  if (received.length < end) return { state: "partial" };
  return {
    state: "complete",
    version,
    from,
    clusterId,
    incarnation,
    to: received.subarray(at + 1, at + 1 + toLength).toString("utf8"),
    macBytes: received.subarray(end - MAC_BYTES, end),
    consumed: end,
  };
}

/** Checks the answer's HMAC against the challenge this listener sent (over the cluster id the answer names). */
export function verify(secret: string, challenge: Uint8Array, parsed: Extract<ParsedAnswer, { state: "complete" }>): boolean {
  const nonce = challenge.subarray(PREAMBLE_BYTES + CLUSTER_ID_BYTES, CHALLENGE_BYTES);
  const ids = { clusterId: parsed.clusterId, incarnation: parsed.incarnation };
  return timingSafeEqual(mac(secret, parsed.version, ids, nonce, parsed.from, parsed.to), parsed.macBytes);
}

/** The refusal both sides log for a peer of another protocol version. */
export function versionRefusal(peer: string | undefined, peerVersion: number): string {
  return (
    `peer ${peer ?? "(unnamed)"} speaks peer protocol ${peerVersion}, this node ${PEER_PROTOCOL_VERSION}; ` +
    "no rolling upgrades before 1.0: run one build on every node"
  );
}

/** The refusal both sides log for a peer of another cluster. */
export function clusterRefusal(peer: string, peerCluster: Uint8Array, ownCluster: Uint8Array): string {
  const peerHex = Buffer.from(peerCluster).toString("hex");
  const ownHex = Buffer.from(ownCluster).toString("hex");
  return (
    `peer ${peer} belongs to cluster ${peerHex}, this node to cluster ${ownHex}; ` +
    "refusing it (was its data dir bootstrapped with other --initial-cluster, --shards, --replicas or peer secret?)"
  );
}
