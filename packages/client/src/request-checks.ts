import { InvalidArgumentError } from "./errors.js";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/*
 * Checks made before any I/O. The server checks again (and knows its configured
 * limits); these catch what is wrong whatever the configuration, so that a bad call
 * fails fast and a batch is not half-sent.
 */

export function checkKey(key: unknown, field = "key"): asserts key is string {
  if (typeof key !== "string" || key.length === 0) throw new InvalidArgumentError(`${field} must be a non-empty string`);
}

export function checkValue(value: unknown, field = "value"): void {
  if (typeof value !== "string" && !(value instanceof Uint8Array)) throw new InvalidArgumentError(`${field} must be a string or a Uint8Array`);
}

/** A TTL in milliseconds as the wire's int64; 0 means no expiry. */
export function ttlMsOf(ttlMs: number | undefined, field = "ttlMs"): bigint {
  if (ttlMs === undefined) return 0n;
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 0) throw new InvalidArgumentError(`${field} must be a non-negative integer of milliseconds, got ${String(ttlMs)}`);
  return BigInt(ttlMs);
}

function toBigInt(value: bigint | number, field: string): bigint {
  if (typeof value === "bigint") return value;
  if (!Number.isSafeInteger(value)) throw new InvalidArgumentError(`${field} must be an integer (a bigint beyond 2^53), got ${String(value)}`);
  return BigInt(value);
}

export function versionOf(version: bigint | number, field = "version"): bigint {
  const v = toBigInt(version, field);
  if (v < 0n || v > UINT64_MAX) throw new InvalidArgumentError(`${field} must be in [0, 2^64 - 1], got ${v}`);
  return v;
}

export function deltaOf(delta: bigint | number): bigint {
  const d = toBigInt(delta, "delta");
  if (d < INT64_MIN || d > INT64_MAX) throw new InvalidArgumentError(`delta must be a signed 64-bit integer, got ${d}`);
  return d;
}

export function checkBatch(count: number, batchKeysMax: number, field: string): void {
  if (count > batchKeysMax) throw new InvalidArgumentError(`${field} holds ${count} entries, above batchKeysMax ${batchKeysMax}`);
}
