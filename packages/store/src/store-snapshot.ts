import { assert } from "./assert.js";
import { ByteReader } from "./byte-reader.js";
import { ByteWriter, DigestHasher } from "./byte-sink.js";
import type { Entry } from "./entry.js";
import {
  CHUNK_KIND_ENTRIES,
  CHUNK_KIND_HEADER,
  CHUNK_KIND_TRAILER,
  readChunkStart,
  readEntry,
  readHeader,
  writeChunkStart,
  writeEntry,
  writeHeader,
  type SnapshotEntry,
  type SnapshotHeader,
} from "./snapshot-format.js";
import { StoreSnapshotError } from "./store-snapshot-error.js";

/** Default number of entries per snapshot chunk. */
export const SNAPSHOT_CHUNK_ENTRIES_DEFAULT = 1024;
/** Upper bound on entries per chunk, so one chunk's encoding stays a short step. */
export const SNAPSHOT_CHUNK_ENTRIES_LIMIT = 1 << 20;
/** Default encoded size at which a chunk closes early (one large value may still exceed it). */
export const SNAPSHOT_CHUNK_BYTES_DEFAULT = 1024 * 1024;

/** A point-in-time image of a store, encoded lazily, chunk by chunk. */
export interface StoreSnapshot {
  /** The encoded chunks; each call starts a fresh pass over the same captured state. */
  chunks(): Iterable<Uint8Array>;
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
    assert(keys.length === header.entryCount && entries.length === keys.length && frequencies.length === keys.length, "CapturedSnapshot: arrays differ in length");
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
    for (let start = 0; start < this.keys.length; ) {
      const { chunk, end } = this.entriesChunk(start, hasher);
      yield chunk;
      start = end;
    }
    const trailer = new ByteWriter(32);
    writeChunkStart(trailer, CHUNK_KIND_TRAILER);
    trailer.text(hasher.hex());
    yield trailer.finish();
  }

  /** Entries from `start` until chunkEntriesMax entries or chunkBytesTarget bytes, whichever comes first. */
  private entriesChunk(start: number, hasher: DigestHasher): { chunk: Uint8Array; end: number } {
    const body = new ByteWriter(4096);
    const endMax = Math.min(this.keys.length, start + this.chunkEntriesMax);
    let end = start;
    while (end < endMax && (end === start || body.lengthBytes < this.chunkBytesTarget)) {
      const key = this.keys[end] as string;
      const entry = this.entries[end] as Entry;
      const frequency = this.frequencies[end] as number;
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
