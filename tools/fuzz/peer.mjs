// The fuzzer's side of the peer port: the dialer's half of the HMAC handshake, taken
// from the node's own built module (apps/cache-node/dist/peer/peer-handshake.js) so it
// follows the protocol's version, and hand-made frames (u32 little-endian length, then a
// distcache.raft.v1.PeerBatch; apps/cache-node/src/peer/wire/peer-wire.ts).
import net from "node:net";
import { ProtoWriter, WIRE } from "./proto-writer.mjs";

const handshakeModule = await import(new URL("../../apps/cache-node/dist/peer/peer-handshake.js", import.meta.url).href);
const ACCEPTED = handshakeModule.ACCEPTED ?? 0x01;
const MAGIC = handshakeModule.MAGIC;
/** Version 1's challenge was MAGIC and a nonce; later ones carry a preamble and a cluster id too. */
const CHALLENGE_BYTES = handshakeModule.CHALLENGE_BYTES ?? MAGIC.length + handshakeModule.NONCE_BYTES;
const NONCE_BYTES = handshakeModule.NONCE_BYTES;
/** Bytes before the dialer's first id in an answer (the preamble, when the protocol has one). */
export const ANSWER_PREFIX_BYTES = handshakeModule.PREAMBLE_BYTES ?? 0;
/** Whether the handshake carries a protocol version and a cluster id. */
export const VERSIONED = handshakeModule.PEER_PROTOCOL_VERSION !== undefined;
/** The node's peer protocol version (0 before the handshake carried one). */
export const PEER_PROTOCOL_VERSION = handshakeModule.PEER_PROTOCOL_VERSION ?? 0;

/** u8 length, then the id's UTF-8 bytes (the handshake's id encoding). */
export function idBytes(id) {
  const bytes = typeof id === "string" ? Buffer.from(id, "utf8") : Buffer.from(id);
  return Buffer.concat([Buffer.from([bytes.length & 0xff]), bytes]);
}

/** The cluster id a challenge names (versioned handshakes), or undefined. */
export function challengeClusterId(challenge) {
  if (!VERSIONED) return undefined;
  const parsed = handshakeModule.parseChallenge(Buffer.from(challenge));
  return parsed.state === "complete" ? parsed.clusterId : undefined;
}

/**
 * The dialer's answer to a listener's challenge, from `from` to `to`, claiming the
 * listener's own cluster (or `clusterId`), and the data dir incarnation `incarnation`
 * (hex; the member's own, for a listener that knows it), where the protocol carries one.
 */
export function handshakeAnswer(secret, challenge, from, to, clusterId = challengeClusterId(challenge), incarnation = undefined) {
  if (!VERSIONED) return Buffer.from(handshakeModule.answer(secret, challenge, from, to));
  const carried = incarnation ? Buffer.from(incarnation, "hex") : undefined;
  return Buffer.from(handshakeModule.answer(secret, challenge, from, to, clusterId ?? Buffer.alloc(16), carried));
}

/** A copy of a challenge with another nonce. */
export function withOtherNonce(challenge, nonce) {
  const c = Buffer.from(challenge);
  Buffer.from(nonce).copy(c, CHALLENGE_BYTES - NONCE_BYTES);
  return c;
}

/** The start of an answer with another protocol version (versioned handshakes only). */
export function otherVersionPreamble(version) {
  const out = Buffer.alloc(ANSWER_PREFIX_BYTES);
  MAGIC.copy(out, 0);
  if (ANSWER_PREFIX_BYTES >= MAGIC.length + 4) out.writeUInt32LE(version >>> 0, MAGIC.length);
  return out;
}

/** One frame: u32 little-endian length, then the payload. */
export function frame(payload, declaredLength = payload.length) {
  const out = Buffer.alloc(4 + payload.length);
  out.writeUInt32LE(declaredLength >>> 0, 0);
  out.set(payload, 4);
  return out;
}

/**
 * A RaftMessage (peer.proto) from plain fields; absent fields stay off the wire.
 * @param {{
 *   group?: number|bigint, type?: number|bigint, to?: string|Uint8Array, term?: number|bigint, index?: number|bigint, commit?: number|bigint,
 *   context?: Uint8Array, transferee?: string, entries?: ProtoWriter[], extra?: (w: ProtoWriter) => void
 * }} m
 */
export function raftMessage(m) {
  const w = new ProtoWriter();
  if (m.group !== undefined) w.uint(1, m.group);
  if (m.type !== undefined) w.uint(2, m.type);
  if (m.to !== undefined) w.bytes(3, m.to);
  if (m.term !== undefined) w.uint(4, m.term);
  if (m.index !== undefined) w.uint(5, m.index);
  for (const e of m.entries ?? []) w.bytes(7, e);
  if (m.commit !== undefined) w.uint(8, m.commit);
  if (m.context !== undefined) w.bytes(16, m.context);
  if (m.transferee !== undefined) w.bytes(17, m.transferee);
  m.extra?.(w);
  return w;
}

/** A PeerBatch holding the given RaftMessages. */
export function peerBatch(messages) {
  const w = new ProtoWriter();
  for (const m of messages) w.bytes(1, m);
  return w.finish();
}

export { WIRE };

/**
 * A dialed peer connection the fuzzer drives step by step.
 * @param {{ host: string, port: number }} target
 */
export function dial(target) {
  const socket = net.connect({ host: target.host, port: target.port, noDelay: true });
  let buffered = Buffer.alloc(0);
  let closed = false;
  let waiters = [];
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  socket.on("data", (d) => {
    buffered = Buffer.concat([buffered, d]);
    wake();
  });
  socket.on("close", () => {
    closed = true;
    wake();
  });
  socket.on("error", () => socket.destroy());
  const connected = new Promise((resolve) => {
    socket.once("connect", () => resolve(true));
    socket.once("close", () => resolve(false));
  });
  /** Resolves when cond() holds, the socket closes, or ms pass; returns cond(). */
  const until = (cond, ms) =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve(cond()), ms);
      const check = () => {
        if (cond() || closed) {
          clearTimeout(timer);
          resolve(cond());
        } else waiters.push(check);
      };
      check();
    });
  return {
    connected,
    get closed() {
      return closed;
    },
    /** Waits for the listener's whole challenge; undefined if it never came or is not one. */
    async challenge(ms) {
      const ok = await until(() => buffered.length >= CHALLENGE_BYTES, ms);
      if (!ok) return undefined;
      const c = buffered.subarray(0, CHALLENGE_BYTES);
      buffered = buffered.subarray(CHALLENGE_BYTES);
      return c.subarray(0, MAGIC.length).equals(MAGIC) ? Buffer.from(c) : undefined;
    },
    /** Waits for the ACCEPTED byte: "accepted", "refused" (closed, or another byte) or "silent". */
    async verdict(ms) {
      await until(() => buffered.length >= 1, ms);
      if (buffered.length >= 1) return buffered[0] === ACCEPTED ? "accepted" : "refused";
      return closed ? "refused" : "silent";
    },
    /** Waits up to ms for the listener to close the connection; true if it did. */
    async closedWithin(ms) {
      await until(() => closed, ms);
      return closed;
    },
    write(bytes) {
      if (!closed) socket.write(bytes);
    },
    destroy() {
      socket.destroy();
    },
  };
}
