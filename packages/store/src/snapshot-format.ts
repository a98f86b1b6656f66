import type { ByteReader } from "./byte-reader.js";
import type { ByteSink } from "./byte-sink.js";
import type { Entry } from "./entry.js";
import { EVICTION_POLICIES, type EvictionPolicy } from "./eviction-order.js";
import type { PrngState } from "./prng.js";
import { StoreSnapshotError } from "./store-snapshot-error.js";

/**
 * Snapshot format, version 1. Every chunk starts with [format version: u8][kind: u8].
 * - header (kind 1, first chunk): the replicated scalars below, then entryCount.
 * - entries (kind 2, zero or more): count varint, then that many entries, in eviction
 *   order (first victim first): key (len-prefixed UTF-8), flags u8 (bit 0 text,
 *   bit 1 has expiry), version varint, [expireAtMs varint], frequency varint,
 *   value (len-prefixed bytes).
 * - trailer (kind 3, last chunk): the digest of the store at capture time, as text.
 * Integers are unsigned LEB128 varints; PRNG words are fixed little-endian uint32.
 * The digest hashes the same header and entry fields (without chunk framing), so it
 * does not depend on how the entries were chunked.
 */
export const SNAPSHOT_FORMAT_VERSION = 1;

export const CHUNK_KIND_HEADER = 1;
export const CHUNK_KIND_ENTRIES = 2;
export const CHUNK_KIND_TRAILER = 3;

const FLAG_TEXT = 1;
const FLAG_EXPIRES = 2;

/** The replicated scalar state of a store. */
export interface SnapshotHeader {
  readonly policy: EvictionPolicy;
  readonly entriesMax: number;
  readonly bytesMax: number;
  readonly sweepKeysMax: number;
  readonly lfuHalvingIntervalAccesses: number;
  readonly revision: number;
  readonly evictions: number;
  readonly expirations: number;
  readonly lfuAgingAccesses: number;
  readonly prngState: PrngState;
  readonly entryCount: number;
}

export interface SnapshotEntry {
  readonly key: string;
  readonly entry: Entry;
  readonly frequency: number;
}

export function writeChunkStart(sink: ByteSink, kind: number): void {
  sink.u8(SNAPSHOT_FORMAT_VERSION);
  sink.u8(kind);
}

/** Reads a chunk's framing; returns its kind. */
export function readChunkStart(reader: ByteReader): number {
  const version = reader.u8();
  if (version !== SNAPSHOT_FORMAT_VERSION) throw new StoreSnapshotError(`unknown format version ${version}`);
  return reader.u8();
}

export function writeHeader(sink: ByteSink, header: SnapshotHeader): void {
  sink.u8(EVICTION_POLICIES.indexOf(header.policy) + 1);
  sink.uint(header.entriesMax);
  sink.uint(header.bytesMax);
  sink.uint(header.sweepKeysMax);
  sink.uint(header.lfuHalvingIntervalAccesses);
  sink.uint(header.revision);
  sink.uint(header.evictions);
  sink.uint(header.expirations);
  sink.uint(header.lfuAgingAccesses);
  for (const word of header.prngState) sink.u32(word);
  sink.uint(header.entryCount);
}

export function readHeader(reader: ByteReader): SnapshotHeader {
  const policy = EVICTION_POLICIES[reader.u8() - 1];
  if (policy === undefined) throw new StoreSnapshotError("unknown eviction policy");
  return {
    policy,
    entriesMax: reader.uint(),
    bytesMax: reader.uint(),
    sweepKeysMax: reader.uint(),
    lfuHalvingIntervalAccesses: reader.uint(),
    revision: reader.uint(),
    evictions: reader.uint(),
    expirations: reader.uint(),
    lfuAgingAccesses: reader.uint(),
    prngState: [reader.u32(), reader.u32(), reader.u32(), reader.u32()],
    entryCount: reader.uint(),
  };
}

export function writeEntry(sink: ByteSink, key: string, entry: Entry, frequency: number): void {
  writeEntryHead(sink, key, entry, frequency);
  sink.bytes(entry.value);
}

/** An entry's fields up to and including its value's length: writeEntry without the value bytes. */
export function writeEntryHead(sink: ByteSink, key: string, entry: Entry, frequency: number): void {
  sink.text(key);
  sink.u8((entry.text ? FLAG_TEXT : 0) | (entry.expireAtMs !== 0 ? FLAG_EXPIRES : 0));
  sink.uint(entry.version);
  if (entry.expireAtMs !== 0) sink.uint(entry.expireAtMs);
  sink.uint(frequency);
  sink.uint(entry.value.length);
}

/** Bytes of a varint of a safe integer. */
export function varintBytes(value: number): number {
  let bytes = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) bytes++;
  return bytes;
}

/** Bytes writeEntry writes to a ByteWriter for an entry whose key is `keyBytes` UTF-8 bytes long. */
export function encodedEntryBytes(keyBytes: number, entry: Entry, frequency: number): number {
  const expiry = entry.expireAtMs !== 0 ? varintBytes(entry.expireAtMs) : 0;
  return (
    varintBytes(keyBytes) + keyBytes + 1 + varintBytes(entry.version) + expiry + varintBytes(frequency) + varintBytes(entry.value.length) + entry.value.length
  );
}

/** Bytes of a varint at most: a safe integer takes 8. */
const VARINT_BYTES_MAX = 8;

/**
 * The most bytes writeEntry writes for a key of at most keyBytesMax UTF-8 bytes and a
 * value of at most valueBytesMax bytes (any version, expiry and frequency).
 */
export function encodedEntryBytesMax(keyBytesMax: number, valueBytesMax: number): number {
  return varintBytes(keyBytesMax) + keyBytesMax + 1 + 3 * VARINT_BYTES_MAX + varintBytes(valueBytesMax) + valueBytesMax;
}

export function readEntry(reader: ByteReader): SnapshotEntry {
  const key = reader.text();
  const flags = reader.u8();
  if ((flags & ~(FLAG_TEXT | FLAG_EXPIRES)) !== 0) throw new StoreSnapshotError("unknown entry flags");
  const version = reader.uint();
  const expireAtMs = (flags & FLAG_EXPIRES) !== 0 ? reader.uint() : 0;
  if ((flags & FLAG_EXPIRES) !== 0 && expireAtMs === 0) throw new StoreSnapshotError("expiry flag with a zero expiry");
  const frequency = reader.uint();
  const value = reader.blob();
  return { key, entry: { value, text: (flags & FLAG_TEXT) !== 0, version, expireAtMs }, frequency };
}
