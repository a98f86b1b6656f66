import { assert } from "./assert.js";

/**
 * The fixed per-entry overhead, in bytes, that memory accounting adds to every entry:
 * an estimate of what the map slot, the entry record, the policy's list node, the
 * expiry heap slot and the typed-array header cost in a JS engine. It is part of the
 * replicated state machine's rules (it decides when eviction starts), so changing it
 * is a format change, not a tuning knob.
 */
export const ENTRY_MEMORY_OVERHEAD_BYTES = 128;

/** Accounted size of an entry: utf8(key) + value bytes + ENTRY_MEMORY_OVERHEAD_BYTES. */
export function entryBytes(key: string, value: Uint8Array): number {
  return utf8Length(key) + value.length + ENTRY_MEMORY_OVERHEAD_BYTES;
}

/**
 * True when `key` is well-formed UTF-16 (no lone surrogate), so it has an exact UTF-8
 * form. Keys decoded from protobuf always are; a JSON body can carry "\ud800", so the
 * host checks with this before proposing, since the store asserts it.
 */
export function isWellFormedKey(key: string): boolean {
  for (let index = 0; index < key.length; index++) {
    const unit = key.charCodeAt(index);
    if (unit < 0xd800 || unit > 0xdfff) continue;
    const low = key.charCodeAt(index + 1);
    if (unit > 0xdbff || !(low >= 0xdc00 && low <= 0xdfff)) return false;
    index++;
  }
  return true;
}

/**
 * The UTF-8 length of a well-formed string, counted without encoding it. Keys reach
 * the store decoded from UTF-8 (protobuf strings), so a lone surrogate is a
 * programmer error: it could not survive a snapshot round trip.
 */
export function utf8Length(text: string): number {
  let length = 0;
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit < 0x80) length += 1;
    else if (unit < 0x800) length += 2;
    else if (unit < 0xd800 || unit > 0xdfff) length += 3;
    else {
      const low = text.charCodeAt(index + 1);
      assert(unit <= 0xdbff && low >= 0xdc00 && low <= 0xdfff, "utf8Length: lone surrogate in key");
      length += 4;
      index++;
    }
  }
  return length;
}
