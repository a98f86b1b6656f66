import type { Limits } from "./config.js";
import { invalidArgument, limitExceeded } from "./errors.js";

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

export type Payload = { case: "value"; value: Uint8Array } | { case: "text"; value: string } | { case: undefined; value?: undefined };

/** Turns the request's payload oneof into stored bytes and the text flag, enforcing valueBytesMax. */
export function payloadBytes(payload: Payload, limits: Limits, field = "value"): { value: Uint8Array; text: boolean } {
  const out =
    payload.case === "text"
      ? { value: encoder.encode(payload.value), text: true }
      : { value: payload.case === "value" ? payload.value : new Uint8Array(0), text: false };
  if (out.value.length > limits.valueBytesMax) throw limitExceeded(field, "value_bytes_max", limits.valueBytesMax, out.value.length);
  return out;
}
