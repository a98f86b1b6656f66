import { Consistency } from "@distcache/proto";
import { NODE_ID_PATTERN, PROTOCOL_LIMITS } from "@distcache/proto/limits";
import { InvalidArgumentError } from "./errors.js";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/*
 * Checks made before any I/O, against the protocol's hard ceilings (@distcache/proto/limits).
 * The server checks again, and its configured limits may be lower (it answers those with
 * a LimitExceeded detail); these catch what no server would accept, so that a bad call
 * fails fast, a batch is never half sent, and no input the SDK sends can reach a check
 * in the server's replicated apply. Each message names the field.
 */

/** In unicode mode a surrogate pair is one code point, so this matches lone surrogates only. */
const LONE_SURROGATE = /\p{Cs}/u;

/** Whether the string is well-formed UTF-16 (no lone surrogate), so it encodes to UTF-8 unchanged. */
export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/** The length of the string's UTF-8 encoding (what TextEncoder would produce), without encoding it. */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      // A high surrogate followed by its low surrogate: one 4-byte code point.
      bytes += 4;
      i++;
    } else bytes += 3; // a lone surrogate encodes as U+FFFD, 3 bytes
  }
  return bytes;
}

/** The UTF-8 length of text when it could exceed max, or a smaller number that proves it does not. */
function utf8LengthAgainst(text: string, max: number): number {
  // Every UTF-16 unit takes 1 to 3 bytes (a pair takes 4 for its two units).
  return text.length * 3 <= max || text.length > max ? text.length : utf8ByteLength(text);
}

function tooLarge(field: string, what: string, actual: number, limit: string, max: number): InvalidArgumentError {
  return new InvalidArgumentError(`${field} is ${actual} ${what}, above the protocol's ceiling of ${max} (${limit})`, {
    limitExceeded: { limit, max: BigInt(max), actual: BigInt(actual) },
  });
}

/** A key: a non-empty, well-formed string of at most keyBytesMax UTF-8 bytes. */
export function checkKey(key: unknown, field = "key"): asserts key is string {
  if (typeof key !== "string" || key.length === 0) throw new InvalidArgumentError(`${field} must be a non-empty string`);
  if (!isWellFormed(key)) throw new InvalidArgumentError(`${field} is not well-formed UTF-8: it holds a lone surrogate`);
  const bytes = utf8LengthAgainst(key, PROTOCOL_LIMITS.keyBytesMax);
  if (bytes > PROTOCOL_LIMITS.keyBytesMax) throw tooLarge(field, "bytes of UTF-8", utf8ByteLength(key), "key_bytes_max", PROTOCOL_LIMITS.keyBytesMax);
}

/** A value: a string (stored as text) or a Uint8Array, of at most valueBytesMax bytes. */
export function checkValue(value: unknown, field = "value"): void {
  if (value instanceof Uint8Array) {
    if (value.length > PROTOCOL_LIMITS.valueBytesMax) throw tooLarge(field, "bytes", value.length, "value_bytes_max", PROTOCOL_LIMITS.valueBytesMax);
    return;
  }
  if (typeof value !== "string") throw new InvalidArgumentError(`${field} must be a string or a Uint8Array`);
  const bytes = utf8LengthAgainst(value, PROTOCOL_LIMITS.valueBytesMax);
  if (bytes > PROTOCOL_LIMITS.valueBytesMax) throw tooLarge(field, "bytes of UTF-8", utf8ByteLength(value), "value_bytes_max", PROTOCOL_LIMITS.valueBytesMax);
}

/** A TTL in milliseconds as the wire's int64: an integer in [0, ttlMsMax]; 0 or absent means no expiry. */
export function ttlMsOf(ttlMs: unknown, field = "ttlMs"): bigint {
  if (ttlMs === undefined) return 0n;
  if (typeof ttlMs !== "number" || !Number.isSafeInteger(ttlMs) || ttlMs < 0 || ttlMs > PROTOCOL_LIMITS.ttlMsMax) {
    throw new InvalidArgumentError(`${field} must be an integer of milliseconds in [0, ${PROTOCOL_LIMITS.ttlMsMax}] (0: no expiry), got ${String(ttlMs)}`);
  }
  return BigInt(ttlMs);
}

function toBigInt(value: unknown, field: string): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(`${field} must be a bigint or a safe integer number, got ${typeof value === "number" ? String(value) : typeof value}`);
  }
  return BigInt(value);
}

/**
 * The version a conditional write expects: a version in [1, versionMax], or 0, which
 * means the key must be absent (so `update(key, value, 0)` creates it).
 */
export function expectedVersionOf(version: unknown, field = "expectedVersion"): bigint {
  const v = toBigInt(version, field);
  if (v < 0n || v > PROTOCOL_LIMITS.versionMax) throw new InvalidArgumentError(`${field} must be in [1, 2^53 - 1], or 0 for an absent key, got ${v}`);
  return v;
}

/** An increment: a signed 64-bit integer. */
export function deltaOf(delta: unknown): bigint {
  const d = toBigInt(delta, "delta");
  if (d < INT64_MIN || d > INT64_MAX) throw new InvalidArgumentError(`delta must be a signed 64-bit integer, got ${d}`);
  return d;
}

/** A batch holds 1 to batchKeysMax entries (batchKeysMax is at most the protocol's batchItemsMax). */
export function checkBatch(entries: unknown, batchKeysMax: number, field: string): asserts entries is readonly unknown[] {
  if (!Array.isArray(entries)) throw new InvalidArgumentError(`${field} must be an array`);
  const max = Math.min(batchKeysMax, PROTOCOL_LIMITS.batchItemsMax);
  if (entries.length === 0) throw new InvalidArgumentError(`${field} must hold at least one entry`);
  if (entries.length > max) {
    const bound = max === batchKeysMax ? `batchKeysMax ${max}` : `the protocol's ceiling of ${max} (batch_items_max)`;
    throw new InvalidArgumentError(`${field} holds ${entries.length} entries, above ${bound}`);
  }
}

/**
 * A batch write names each key once: the server refuses repeats, and a batch whose part
 * for one shard is refused must not have other parts applied. `name(i)` names entry i's
 * key field, as in "items[3].key duplicates items[0].key".
 */
export function checkDistinct(keys: readonly string[], name: (index: number) => string): void {
  const first = new Map<string, number>();
  keys.forEach((key, i) => {
    const seen = first.get(key);
    if (seen !== undefined) throw new InvalidArgumentError(`${name(i)} duplicates ${name(seen)}`);
    first.set(key, i);
  });
}

/** Read consistency as the SDK accepts it. */
export type ReadConsistency = "strong" | "eventual";

const CONSISTENCY: Readonly<Record<ReadConsistency, Consistency>> = { strong: Consistency.STRONG, eventual: Consistency.EVENTUAL };

/** The wire consistency; absent means strong, any other value is refused (never read as a default). */
export function consistencyOf(consistency: unknown): Consistency {
  if (consistency === undefined) return Consistency.STRONG;
  if (typeof consistency !== "string" || !Object.hasOwn(CONSISTENCY, consistency)) {
    throw new InvalidArgumentError(
      `consistency must be "strong" or "eventual", got ${typeof consistency === "string" ? JSON.stringify(consistency) : String(consistency)}`,
    );
  }
  return CONSISTENCY[consistency as ReadConsistency];
}

/** A shard id: a non-negative integer (the cluster says whether it exists). */
export function checkShard(shard: unknown): asserts shard is number {
  // Shards travel as uint32; the server answers an unknown one in range itself.
  if (typeof shard !== "number" || !Number.isInteger(shard) || shard < 0 || shard > 0xffff_ffff) {
    throw new InvalidArgumentError(`shard must be an integer in [0, 2^32 - 1], got ${String(shard)}`);
  }
}

/** A node id: 1 to 64 of A-Z, a-z, 0-9, "_", "." and "-" (whether it is a member is the cluster's answer). */
export function checkNodeId(id: unknown, field: string): asserts id is string {
  if (typeof id !== "string" || !NODE_ID_PATTERN.test(id)) {
    throw new InvalidArgumentError(
      `${field} must be a node id (1 to 64 of A-Z, a-z, 0-9, "_", "." and "-"), got ${typeof id === "string" ? `${id.length} characters` : typeof id}`,
    );
  }
}

/**
 * The node address rule the nodes apply (to flags, AddNode and Join alike): host:port, the
 * host a name, an IPv4 address or a bracketed IPv6 one, the port 1 to 65535, at most 255
 * characters.
 */
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;
const ADDRESS_CHARS_MAX = 255;

/** Whether `address` is host:port as nodes accept it (see HOST_PORT). */
export function isHostPort(address: string): boolean {
  const match = HOST_PORT.exec(address);
  const port = match ? Number(match[2]) : 0;
  return address.length <= ADDRESS_CHARS_MAX && port >= 1 && port <= 65_535;
}

/** A node address: host:port as nodes accept it. */
export function checkHostPort(address: unknown, field: string): asserts address is string {
  if (typeof address !== "string" || !isHostPort(address)) {
    const got = typeof address === "string" ? JSON.stringify(address.slice(0, 80)) : typeof address;
    throw new InvalidArgumentError(
      `${field} must be host:port (a name, an IPv4 address or a bracketed IPv6 one, a port from 1 to 65535, at most 255 characters), got ${got}`,
    );
  }
}

/** A node to add: its id and both addresses, checked and copied. */
export function clusterNodeOf(node: unknown): { id: string; clientAddress: string; peerAddress: string } {
  if (typeof node !== "object" || node === null) throw new InvalidArgumentError("node must be an object with id, clientAddress and peerAddress");
  const { id, clientAddress, peerAddress } = node as Record<string, unknown>;
  checkNodeId(id, "node.id");
  checkHostPort(clientAddress, "node.clientAddress");
  checkHostPort(peerAddress, "node.peerAddress");
  return { id, clientAddress, peerAddress };
}

const ADMIN_TOKEN = /^[0-9A-Fa-f]{64}$/;

/**
 * An admin token: 64 hex digits (HMAC-SHA256 of a fixed label keyed by the peer secret),
 * returned in lowercase, as nodes compare it. The message never quotes the token.
 */
export function adminTokenOf(token: unknown): string {
  if (typeof token !== "string" || !ADMIN_TOKEN.test(token)) {
    throw new InvalidArgumentError(
      'adminToken must be 64 hex digits (HMAC-SHA256 of "distcache-cluster-admin-v1" keyed by the cluster\'s peer secret), ' +
        `got ${typeof token === "string" ? `${token.length} characters` : typeof token}`,
    );
  }
  return token.toLowerCase();
}

/** Why a session id is refused (empty, not well-formed, or above sessionIdBytesMax UTF-8 bytes), or undefined. */
export function sessionIdRefusal(sessionId: unknown): string | undefined {
  if (typeof sessionId !== "string" || sessionId.length === 0) return "sessionId must be a non-empty string";
  if (!isWellFormed(sessionId)) return "sessionId is not well-formed UTF-8: it holds a lone surrogate";
  const bytes = utf8ByteLength(sessionId);
  if (bytes > PROTOCOL_LIMITS.sessionIdBytesMax)
    return `sessionId is ${bytes} bytes of UTF-8, above the protocol's ceiling of ${PROTOCOL_LIMITS.sessionIdBytesMax}`;
  return undefined;
}
