// The fuzzer checks that every write it saw acknowledged reads back, so no request it
// sends may lower a shard's store bounds: the store would rightly evict those keys.
// Typed ConfigureStore requests only keep or grow bounds (model.mjs, "bound"), but a
// damaged or random body can still decode into a valid one (two bytes, 0x18 0x2e, are
// entries_max = 46). Before a raw ConfigureStore body is sent, it is decoded as a node
// would decode it; one that would lower a bound is spoiled so that it cannot decode.
import { gunzipSync, brotliDecompressSync } from "node:zlib";
import { fromBinary, fromJson } from "@bufbuild/protobuf";
import { ConfigureStoreRequestSchema } from "@distcache/proto";

/** Bounds at or above this never shrink a shard of a fuzzed cluster (its defaults are far lower). */
const BOUND_FLOOR = 10n ** 12n;

function decodes(bytes, json) {
  try {
    const message = json
      ? fromJson(ConfigureStoreRequestSchema, JSON.parse(Buffer.from(bytes).toString("utf8")), { ignoreUnknownFields: false })
      : fromBinary(ConfigureStoreRequestSchema, bytes);
    return message;
  } catch {
    return undefined;
  }
}

function lowers(message) {
  return message !== undefined && [message.entriesMax, message.bytesMax].some((b) => b > 0n && b < BOUND_FLOOR);
}

/** The messages a body may carry: itself, and each enveloped frame (decompressed when it can be). */
function candidates(bytes) {
  const out = [bytes];
  for (let at = 0; at + 5 <= bytes.length;) {
    const flags = bytes[at];
    const length = Buffer.from(bytes.buffer, bytes.byteOffset + at + 1, 4).readUInt32BE(0);
    const data = bytes.subarray(at + 5, Math.min(bytes.length, at + 5 + length));
    out.push(data);
    if (flags & 1) {
      for (const inflate of [gunzipSync, brotliDecompressSync]) {
        try {
          out.push(new Uint8Array(inflate(data)));
        } catch {
          // not this compression
        }
      }
    }
    at += 5 + length;
  }
  return out;
}

/**
 * A body for a raw ConfigureStore call that cannot lower a shard's bounds: `body` itself
 * unless it (or one of its frames) decodes to a request that would, in which case a
 * copy with a byte appended that makes it fail to decode (a tag with the invalid wire
 * type 7; or, in JSON, trailing garbage).
 */
export function guardConfigureStore(body, json) {
  const bytes = typeof body === "string" ? Buffer.from(body) : Buffer.from(body);
  const risky = candidates(new Uint8Array(bytes)).some((c) => lowers(decodes(c, json)) || lowers(decodes(c, !json)));
  if (!risky) return body;
  return Buffer.concat([bytes, Buffer.from(json ? "}x" : [0x0f])]);
}
