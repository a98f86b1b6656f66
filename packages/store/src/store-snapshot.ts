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
    for (let start = 0; start < this.keys.length; start += this.chunkEntriesMax) {
      yield this.entriesChunk(start, Math.min(this.keys.length, start + this.chunkEntriesMax), hasher);
    }
    const trailer = new ByteWriter(32);
    writeChunkStart(trailer, CHUNK_KIND_TRAILER);
    trailer.text(hasher.hex());
    yield trailer.finish();
  }

  private entriesChunk(start: number, end: number, hasher: DigestHasher): Uint8Array {
    const writer = new ByteWriter(4096);
    writeChunkStart(writer, CHUNK_KIND_ENTRIES);
    writer.uint(end - start);
    for (let index = start; index < end; index++) {
      const key = this.keys[index] as string;
      const entry = this.entries[index] as Entry;
      const frequency = this.frequencies[index] as number;
      writeEntry(writer, key, entry, frequency);
      writeEntry(hasher, key, entry, frequency);
    }
    return writer.finish();
  }
}

/** Receives a snapshot's contents in order while it is decoded. */
export interface SnapshotVisitor {
  header(header: SnapshotHeader): void;
  entry(entry: SnapshotEntry): void;
}

/**
 * Decodes chunks (header, entries..., trailer) into `visitor` and returns the digest
 * recorded in the trailer. Throws StoreSnapshotError on malformed or incomplete input.
 */
export function readSnapshot(chunks: Iterable<Uint8Array>, visitor: SnapshotVisitor): string {
  let header: SnapshotHeader | undefined;
  let digest: string | undefined;
  let entriesRead = 0;
  for (const chunk of chunks) {
    const reader = new ByteReader(chunk);
    const kind = readChunkStart(reader);
    if (digest !== undefined) throw new StoreSnapshotError("chunk after the trailer");
    if (header === undefined) {
      if (kind !== CHUNK_KIND_HEADER) throw new StoreSnapshotError("the first chunk is not a header");
      header = readHeader(reader);
      visitor.header(header);
    } else if (kind === CHUNK_KIND_ENTRIES) {
      entriesRead += readEntries(reader, visitor, header.entryCount - entriesRead);
    } else if (kind === CHUNK_KIND_TRAILER) {
      digest = reader.text();
    } else {
      throw new StoreSnapshotError(`unexpected chunk kind ${kind}`);
    }
    if (!reader.done) throw new StoreSnapshotError("trailing bytes in a chunk");
  }
  if (header === undefined || digest === undefined) throw new StoreSnapshotError("missing header or trailer");
  if (entriesRead !== header.entryCount) throw new StoreSnapshotError("entry count differs from the header");
  return digest;
}

function readEntries(reader: ByteReader, visitor: SnapshotVisitor, remaining: number): number {
  const count = reader.uint();
  if (count > remaining) throw new StoreSnapshotError("more entries than the header announced");
  for (let index = 0; index < count; index++) visitor.entry(readEntry(reader));
  return count;
}
