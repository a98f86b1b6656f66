import type { GetResponse } from "@distcache/proto";

/** A value as callers give it: bytes are stored as bytes, a string as text (read back as text). */
export type CacheValue = Uint8Array | string;

/** A present key, as `get` returns it. */
export interface GetResult {
  /** The value's bytes (a text value's UTF-8 encoding). */
  value: Uint8Array;
  /** The value as written, when it was written as text. */
  text?: string;
  /** The key's version: grows with every write to it, never reused. */
  version: bigint;
  /** Milliseconds left before the key expires; 0 when it has no TTL. */
  ttlRemainingMs: number;
  /** The position of the shard state the read saw: watch({ from: position }) receives exactly the changes after this read. */
  position?: { shard: number; index: bigint; ordinal: number };
}

export type Payload = { case: "value"; value: Uint8Array } | { case: "text"; value: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function toPayload(value: CacheValue): Payload {
  return typeof value === "string" ? { case: "text", value } : { case: "value", value };
}

/** Converts a Get result; null when the key is absent or expired. */
type GetShape = Pick<GetResponse, "found" | "payload" | "version" | "ttlRemainingMs"> & Partial<Pick<GetResponse, "position">>;

export function fromGetResponse(response: GetShape): GetResult | null {
  if (!response.found) return null;
  const ttlRemainingMs = Number(response.ttlRemainingMs);
  const version = response.version;
  const p = response.position;
  const position = p ? { position: { shard: p.shard, index: p.index, ordinal: p.ordinal } } : {};
  if (response.payload.case === "text") {
    return { value: encoder.encode(response.payload.value), text: response.payload.value, version, ttlRemainingMs, ...position };
  }
  return { value: response.payload.case === "value" ? response.payload.value : new Uint8Array(0), version, ttlRemainingMs, ...position };
}

/** The value as a string: the text as written, or the bytes decoded as UTF-8. */
export function resultText(result: GetResult): string {
  return result.text ?? decoder.decode(result.value);
}
