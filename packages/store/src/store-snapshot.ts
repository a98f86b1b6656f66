import { assert } from "./assert.js";
import { ByteReader } from "./byte-reader.js";
import { ByteWriter, DigestHasher } from "./byte-sink.js";
import { utf8Length } from "./entry-bytes.js";
import type { Entry } from "./entry.js";
import {
  CHUNK_KIND_ENTRIES,
  encodedEntryBytes,
  encodedEntryBytesMax,
  CHUNK_KIND_HEADER,
  CHUNK_KIND_TRAILER,
  readChunkStart,
  readEntry,
  readHeader,
  writeChunkStart,
  varintBytes,
  writeEntry,
  writeEntryHead,
  writeHeader,
  type SnapshotEntry,
  type SnapshotHeader,
} from "./snapshot-format.js";
import { StoreSnapshotError } from "./store-snapshot-error.js";

/** Default number of entries per snapshot chunk. */
export const SNAPSHOT_CHUNK_ENTRIES_DEFAULT = 1024;
/** Upper bound on entries per chunk, so one chunk's encoding stays a short step. */
export const SNAPSHOT_CHUNK_ENTRIES_LIMIT = 1 << 20;
/** Default target size of an entries chunk (an entry larger than the target goes alone in its chunk). */
export const SNAPSHOT_CHUNK_BYTES_DEFAULT = 1024 * 1024;
/** Default cost of one digest step (see CapturedSnapshot.digestSteps): a few milliseconds of hashing. */
export const DIGEST_STEP_COST_DEFAULT = 2 * 1024 * 1024;
/** The cost digestSteps counts for one entry besides its value and key: walking to it and hashing its fields. */
const DIGEST_ENTRY_COST = 256;

/**
 * The largest chunk a snapshot taken with `chunkBytesTarget` holds when no key is longer
 * than keyBytesMax UTF-8 bytes and no value longer than valueBytesMax bytes: an entries
 * chunk takes entries up to the target, and an entry larger than the target goes alone.
 * Header and trailer chunks are a few hundred bytes at most.
 */
export function snapshotChunkBytesMax(chunkBytesTarget: number, keyBytesMax: number, valueBytesMax: number): number {
  return ENTRIES_CHUNK_FRAMING_BYTES_MAX + Math.max(chunkBytesTarget, encodedEntryBytesMax(keyBytesMax, valueBytesMax));
}

/** An entries chunk's framing: format version, kind and its entry count (at most SNAPSHOT_CHUNK_ENTRIES_LIMIT). */
const ENTRIES_CHUNK_FRAMING_BYTES_MAX = 2 + varintBytes(SNAPSHOT_CHUNK_ENTRIES_LIMIT);

/** A point-in-time image of a store, encoded lazily, chunk by chunk. */
export interface StoreSnapshot {
  /** The encoded chunks; each call starts a fresh pass over the same captured state. */
  chunks(): Iterable<Uint8Array>;
  /**
   * The captured store's digest (Store.digest() at capture time, also the trailer's),
   * hashed in steps: the generator yields after about `costPerStep` units of work (a
   * value byte or a key's UTF-16 unit counts one, an entry DIGEST_ENTRY_COST more; a
   * large value is hashed across several steps) and returns the digest.
   */
  digestSteps(costPerStep?: number): Generator<void, string, void>;
  readonly entryCount: number;
}

/**
 * A snapshot captured by reference: the header scalars plus parallel arrays of keys,
 * entries and frequencies in eviction order. Entries are immutable, so later writes
 * to the store (which replace entries, never mutate them) cannot change what it yields.
 */
export class CapturedSnapshot implements StoreSnapshot {
  constructor(
    private readonly header: SnapshotHeader,
    private readonly keys: readonly string[],
    private readonly entries: readonly Entry[],
    private readonly frequencies: readonly number[],
    private readonly chunkEntriesMax: number,
    private readonly chunkBytesTarget: number,
  ) {
    assert(
      keys.length === header.entryCount && entries.length === keys.length && frequencies.length === keys.length,
      "CapturedSnapshot: arrays differ in length",
    );
  }

  get entryCount(): number {
    return this.keys.length;
  }

  *chunks(): Generator<Uint8Array> {
    const hasher = new DigestHasher();
    const head = new ByteWriter(128);
    writeChunkStart(head, CHUNK_KIND_HEADER);
    writeHeader(head, this.header);
    writeHeader(hasher, this.header);
    yield head.finish();
    for (let start = 0; start < this.keys.length;) {
      const { chunk, end } = this.entriesChunk(start, hasher);
      yield chunk;
      start = end;
    }
    const trailer = new ByteWriter(32);
    writeChunkStart(trailer, CHUNK_KIND_TRAILER);
    trailer.text(hasher.hex());
    yield trailer.finish();
  }

  *digestSteps(costPerStep: number = DIGEST_STEP_COST_DEFAULT): Generator<void, string, void> {
    assert(isPositiveSafeInteger(costPerStep), "StoreSnapshot.digestSteps: costPerStep must be a positive safe integer");
    const hasher = new DigestHasher();
    writeHeader(hasher, this.header);
    let budget = costPerStep;
    for (let index = 0; index < this.keys.length; index++) {
      const key = this.keys[index] as string;
      const entry = this.entries[index] as Entry;
      writeEntryHead(hasher, key, entry, this.frequencies[index] as number);
      budget -= DIGEST_ENTRY_COST + 2 * key.length;
      // The value's bytes may span steps: the hash is the same however they are fed.
      const value = entry.value;
      let offset = 0;
      while (value.length - offset > budget) {
        const part = Math.max(0, budget);
        hasher.bytes(value.subarray(offset, offset + part));
        offset += part;
        yield;
        budget = costPerStep;
      }
      hasher.bytes(offset === 0 ? value : value.subarray(offset));
      budget -= value.length - offset;
      if (budget <= 0 && index + 1 < this.keys.length) {
        yield;
        budget = costPerStep;
      }
    }
    return hasher.hex();
  }

  /**
   * Entries from `start` until chunkEntriesMax entries, or until the next entry would
   * take the chunk past chunkBytesTarget bytes; an entry larger than the target goes
   * alone (see snapshotChunkBytesMax).
   */
  private entriesChunk(start: number, hasher: DigestHasher): { chunk: Uint8Array; end: number } {
    const body = new ByteWriter(4096);
    const endMax = Math.min(this.keys.length, start + this.chunkEntriesMax);
    let end = start;
    while (end < endMax) {
      const key = this.keys[end] as string;
      const entry = this.entries[end] as Entry;
      const frequency = this.frequencies[end] as number;
      if (end > start && body.lengthBytes + encodedEntryBytes(utf8Length(key), entry, frequency) > this.chunkBytesTarget) break;
      writeEntry(body, key, entry, frequency);
      writeEntry(hasher, key, entry, frequency);
      end++;
    }
    const chunk = new ByteWriter(body.lengthBytes + 16);
    writeChunkStart(chunk, CHUNK_KIND_ENTRIES);
    chunk.uint(end - start);
    chunk.bytes(body.finish());
    return { chunk: chunk.finish(), end };
  }
}

/** Receives a snapshot's contents in order while it is decoded. */
export interface SnapshotVisitor {
  header(header: SnapshotHeader): void;
  entry(entry: SnapshotEntry): void;
}

/**
 * Decodes chunks (header, entries..., trailer) one at a time into `visitor`, hashing
 * what it decodes, so a host can restore across several event-loop turns. finish()
 * checks completeness and compares the hash with the trailer's digest. Malformed,
 * reordered or incomplete input throws StoreSnapshotError.
 */
export class SnapshotDecoder {
  private header: SnapshotHeader | undefined;
  private digest: string | undefined;
  private entriesRead = 0;
  private readonly hasher = new DigestHasher();

  constructor(private readonly visitor: SnapshotVisitor) {}

  push(chunk: Uint8Array): void {
    const reader = new ByteReader(chunk);
    const kind = readChunkStart(reader);
    if (this.digest !== undefined) throw new StoreSnapshotError("chunk after the trailer");
    if (this.header === undefined) {
      if (kind !== CHUNK_KIND_HEADER) throw new StoreSnapshotError("the first chunk is not a header");
      this.header = readHeader(reader);
      writeHeader(this.hasher, this.header);
      this.visitor.header(this.header);
    } else if (kind === CHUNK_KIND_ENTRIES) {
      this.readEntries(reader, this.header.entryCount - this.entriesRead);
    } else if (kind === CHUNK_KIND_TRAILER) {
      this.digest = reader.text();
    } else {
      throw new StoreSnapshotError(`unexpected chunk kind ${kind}`);
    }
    if (!reader.done) throw new StoreSnapshotError("trailing bytes in a chunk");
  }

  finish(): void {
    if (this.header === undefined || this.digest === undefined) throw new StoreSnapshotError("missing header or trailer");
    if (this.entriesRead !== this.header.entryCount) throw new StoreSnapshotError("entry count differs from the header");
    if (this.hasher.hex() !== this.digest) throw new StoreSnapshotError("digest mismatch");
  }

  private readEntries(reader: ByteReader, remaining: number): void {
    const count = reader.uint();
    if (count > remaining) throw new StoreSnapshotError("more entries than the header announced");
    for (let index = 0; index < count; index++) {
      const decoded = readEntry(reader);
      writeEntry(this.hasher, decoded.key, decoded.entry, decoded.frequency);
      this.visitor.entry(decoded);
    }
    this.entriesRead += count;
  }
}

function isPositiveSafeInteger(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 1;
}
