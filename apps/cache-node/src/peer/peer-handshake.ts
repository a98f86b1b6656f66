import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Peer authentication: an HMAC challenge, so the shared secret never crosses the wire.
 *
 *   listener → dialer: MAGIC (4 bytes) | nonce (32 bytes, fresh per connection)
 *   dialer → listener: u8 len | from id | u8 len | to id | HMAC-SHA256(secret, LABEL | nonce | from | to)
 *   listener → dialer: one byte, ACCEPTED
 *
 * A fresh nonce per connection means a recorded handshake cannot be replayed. The
 * connection carries messages one way only, dialer to listener. Frames after the
 * handshake are not encrypted or individually authenticated: run peers on a private
 * network (or behind TLS) when that matters.
 */
export const MAGIC = Buffer.from("DCP1", "latin1");
export const NONCE_BYTES = 32;
export const MAC_BYTES = 32;
export const ACCEPTED = 0x01;
const LABEL = Buffer.from("distcache-peer-v1", "latin1");

export function newChallenge(): Buffer {
  return Buffer.concat([MAGIC, randomBytes(NONCE_BYTES)]);
}

export function mac(secret: string, nonce: Uint8Array, from: string, to: string): Buffer {
  return createHmac("sha256", secret).update(LABEL).update(nonce).update(idBytes(from)).update(idBytes(to)).digest();
}

function idBytes(id: string): Buffer {
  const bytes = Buffer.from(id, "utf8");
  if (bytes.length === 0 || bytes.length > 255) throw new RangeError(`node id must be 1-255 bytes, got ${bytes.length}`);
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

/** The dialer's answer to a challenge. */
export function answer(secret: string, challenge: Uint8Array, from: string, to: string): Buffer {
  const nonce = challenge.subarray(MAGIC.length, MAGIC.length + NONCE_BYTES);
  return Buffer.concat([idBytes(from), idBytes(to), mac(secret, nonce, from, to)]);
}

/** Node ids are 1-64 bytes (see the node config), so a longer length prefix is garbage. */
export const ID_BYTES_MAX = 64;
/** The longest well-formed answer: two length-prefixed ids of ID_BYTES_MAX and the MAC. */
export const ANSWER_BYTES_MAX = 2 * (1 + ID_BYTES_MAX) + MAC_BYTES;

export type ParsedAnswer =
  | { complete: false; invalid?: boolean }
  | { complete: true; from: string; to: string; macBytes: Buffer; consumed: number };

/** Parses an answer from the bytes received so far. */
export function parseAnswer(buf: Buffer): ParsedAnswer {
  if (buf.length < 1) return { complete: false };
  const fromLen = buf[0]!;
  if (fromLen === 0 || fromLen > ID_BYTES_MAX) return { complete: false, invalid: true };
  if (buf.length < 1 + fromLen + 1) return { complete: false };
  const toLen = buf[1 + fromLen]!;
  if (toLen === 0 || toLen > ID_BYTES_MAX) return { complete: false, invalid: true };
  const end = 1 + fromLen + 1 + toLen + MAC_BYTES;
  if (buf.length < end) return { complete: false };
  return {
    complete: true,
    from: buf.subarray(1, 1 + fromLen).toString("utf8"),
    to: buf.subarray(2 + fromLen, 2 + fromLen + toLen).toString("utf8"),
    macBytes: buf.subarray(end - MAC_BYTES, end),
    consumed: end,
  };
}

export function verify(secret: string, challenge: Uint8Array, parsed: Extract<ParsedAnswer, { complete: true }>): boolean {
  const nonce = challenge.subarray(MAGIC.length, MAGIC.length + NONCE_BYTES);
  return timingSafeEqual(mac(secret, nonce, parsed.from, parsed.to), parsed.macBytes);
}
