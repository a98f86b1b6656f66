import { Consistency, SetCondition, type RequestHeader } from "@distcache/proto";
import { NODE_ID_PATTERN, PROTOCOL_LIMITS } from "@distcache/proto/limits";
import { duplicateRefusal, sessionRefusal } from "../state-machine/command-validation.js";
import type { Limits } from "../config/config.js";
import { invalidArgument, limitExceeded } from "./connect-errors.js";

/*
 * The one validation of client requests, used by every request path (the unary fast
 * path, the stock Connect handler, and requests another node forwards here, which
 * arrive through the same handlers). Apply checks the same rules again on the decoded
 * command (command-validation.ts), so a request that slipped past these could only be
 * refused there, never crash a replica. docs/api-errors.md lists each rule and its answer.
 */

const LONE_SURROGATE = /\p{Cs}/u;
const encoder = new TextEncoder();

/** Checks a key: non-empty, well-formed UTF-8, at most keyBytesMax bytes. */
export function validateKey(key: string, limits: Limits, field = "key"): void {
  if (key.length === 0) throw invalidArgument(`${field} must not be empty`);
  const bytes = Buffer.byteLength(key, "utf8");
  if (bytes > limits.keyBytesMax) throw limitExceeded(field, "key_bytes_max", limits.keyBytesMax, bytes);
  if (LONE_SURROGATE.test(key)) throw invalidArgument(`${field} is not well-formed UTF-8 (it holds a lone surrogate)`);
}

export function validateTtl(ttlMs: bigint, limits: Limits, field = "ttl_ms"): void {
  if (ttlMs < 0n) throw invalidArgument(`${field} must be >= 0 milliseconds (0 means no expiry), got ${ttlMs}`);
  if (ttlMs > BigInt(limits.ttlMsMax)) throw invalidArgument(`${field} must be at most ${limits.ttlMsMax} milliseconds, got ${ttlMs}`);
}

export function validateBatch(count: number, limits: Limits, field: string): void {
  if (count === 0) throw invalidArgument(`${field} must not be empty`);
  if (count > limits.batchKeysMax) throw invalidArgument(`${field} holds ${count} entries, above the limit of ${limits.batchKeysMax} (batch_keys_max)`);
}

/** A batch write names each key once (MGet may repeat keys: each position is answered). */
export function validateDistinct(keys: readonly string[], field: string): void {
  const refusal = duplicateRefusal(keys, field);
  if (refusal !== undefined) throw invalidArgument(refusal);
}

const CONSISTENCIES: ReadonlySet<number> = new Set([Consistency.UNSPECIFIED, Consistency.STRONG, Consistency.EVENTUAL]);

/** An enum value the API does not define is refused, never read as a default. */
export function validateConsistency(consistency: Consistency): void {
  if (!CONSISTENCIES.has(consistency))
    throw invalidArgument(`consistency ${String(consistency)} is not a known value (CONSISTENCY_STRONG or CONSISTENCY_EVENTUAL)`);
}

/** The condition is known, and expected_version is set only with IF_VERSION and within 2^53 - 1. */
export function validateCondition(condition: SetCondition, expectedVersion: bigint): void {
  if (condition !== SetCondition.UNSPECIFIED && condition !== SetCondition.IF_ABSENT && condition !== SetCondition.IF_VERSION) {
    throw invalidArgument(`condition ${String(condition)} is not a known value (SET_CONDITION_IF_ABSENT or SET_CONDITION_IF_VERSION)`);
  }
  if (condition !== SetCondition.IF_VERSION && expectedVersion !== 0n) {
    throw invalidArgument("expected_version is only allowed with SET_CONDITION_IF_VERSION");
  }
  if (expectedVersion > PROTOCOL_LIMITS.versionMax) throw invalidArgument(`expected_version must be at most 2^53 - 1, got ${expectedVersion}`);
}

/** The session fields: a bounded id, 1 <= sequence <= 2^53 - 1, acked_sequence < sequence; none without an id. */
export function validateHeader(header: RequestHeader | undefined): void {
  if (header === undefined) return;
  if (header.sessionId.length > PROTOCOL_LIMITS.sessionIdBytesMax) {
    // Refused before measuring: a huge id is not even scanned.
    throw invalidArgument(`header.session_id holds ${header.sessionId.length} characters, above the limit of ${PROTOCOL_LIMITS.sessionIdBytesMax} bytes`);
  }
  const refusal = sessionRefusal(header);
  if (refusal !== undefined) throw invalidArgument(`header: ${refusal}`);
}

/** A node id a request names: the pattern node ids follow (refused without quoting what does not). */
export function validateNodeId(id: string, field: string): void {
  if (!NODE_ID_PATTERN.test(id)) throw invalidArgument(`${field} is not a node id (1 to 64 of A-Z, a-z, 0-9, "_", "." and "-"; got ${id.length} characters)`);
}

export type Payload = { case: "value"; value: Uint8Array } | { case: "text"; value: string } | { case: undefined; value?: undefined };

/** Turns the request's payload oneof into stored bytes and the text flag, enforcing valueBytesMax. */
export function payloadBytes(payload: Payload, limits: Limits, field = "value"): { value: Uint8Array; text: boolean } {
  if (payload.case === "text" && payload.value.length > limits.valueBytesMax) {
    // At least one UTF-8 byte per UTF-16 unit: too long before encoding it.
    throw limitExceeded(field, "value_bytes_max", limits.valueBytesMax, Buffer.byteLength(payload.value, "utf8"));
  }
  const out =
    payload.case === "text"
      ? { value: encoder.encode(payload.value), text: true }
      : { value: payload.case === "value" ? payload.value : new Uint8Array(0), text: false };
  if (out.value.length > limits.valueBytesMax) throw limitExceeded(field, "value_bytes_max", limits.valueBytesMax, out.value.length);
  return out;
}
