import { crc32 } from "node:zlib";
import { NodeWalFs } from "../wal/node-wal-fs.js";
import { joinPath, type WalFs, type WalReader } from "../wal/wal-fs.js";

/**
 * State-machine snapshots as files, one group's snapshot per file:
 *
 *   header: "DCSN" | u8 version | u32 group | u64 index | u64 term      (25 bytes)
 *   chunk*: u32 length | u32 CRC-32 of the chunk | chunk bytes
 *   end:    u32 0xffffffff | u32 chunk count
 *
 * A snapshot is written to a temporary name, synced, renamed into place and the
 * directory synced, so a crash leaves either the whole new file or none of it. Chunks
 * are written one at a time with a turn of the event loop between them, so producing
 * a large snapshot never blocks the loop for long.
 *
 * A SnapshotFileId names the snapshot a file holds: its group and the log position
 * (index, term) it covers, recorded in both the file's name and its header. It is not
 * the Raft core's `SnapshotMetadata`, which carries the membership too.
 */
export interface SnapshotFileId {
  group: number;
  index: number;
  term: number;
}

const MAGIC = Buffer.from("DCSN", "latin1");
const VERSION = 1;
const HEADER_BYTES = 25;
const END_MARK = 0xffff_ffff;
/** Larger chunks are refused on read: they can only be damage. */
export const SNAPSHOT_CHUNK_BYTES_MAX = 64 * 1024 * 1024;

export class SnapshotCorruptionError extends Error {
  override name = "SnapshotCorruptionError";
}

const fileName = (snapshot: SnapshotFileId) => `snap-${snapshot.group}-${String(snapshot.index).padStart(16, "0")}-${snapshot.term}.snap`;
const NAME = /^snap-(\d+)-(\d{16})-(\d+)\.snap$/;

export class SnapshotFiles {
  constructor(
    readonly dir: string,
    private readonly fs: WalFs = new NodeWalFs(),
  ) {}

  /** Writes a snapshot durably and atomically; resolves once it is in place. */
  async write(snapshot: SnapshotFileId, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
    await this.fs.mkdirs(this.dir);
    const final = joinPath(this.dir, fileName(snapshot));
    const temporary = `${final}.tmp`;
    await this.fs.remove(temporary).catch(() => undefined);
    const file = await this.fs.openAppend(temporary);
    try {
      const header = Buffer.alloc(HEADER_BYTES);
      MAGIC.copy(header, 0);
      header.writeUInt8(VERSION, 4);
      header.writeUInt32LE(snapshot.group, 5);
      header.writeBigUInt64LE(BigInt(snapshot.index), 9);
      header.writeBigUInt64LE(BigInt(snapshot.term), 17);
      await file.append(header);
      let count = 0;
      for await (const chunk of chunks) {
        const frame = Buffer.alloc(8);
        frame.writeUInt32LE(chunk.length, 0);
        frame.writeUInt32LE(crc32(chunk), 4);
        await file.append(Buffer.concat([frame, chunk]));
        count++;
      }
      const end = Buffer.alloc(8);
      end.writeUInt32LE(END_MARK, 0);
      end.writeUInt32LE(count, 4);
      await file.append(end);
      await file.datasync();
    } finally {
      await file.close();
    }
    await this.fs.rename(temporary, final);
    await this.fs.syncDir(this.dir);
  }

  /** Snapshots on disk for a group, newest first. */
  async list(group: number): Promise<SnapshotFileId[]> {
    const names = await this.fs.list(this.dir).catch(() => [] as string[]);
    return names
      .map((n) => NAME.exec(n))
      .filter((m): m is RegExpExecArray => m !== null && Number(m[1]) === group)
      .map((m) => ({ group, index: Number(m[2]), term: Number(m[3]) }))
      .sort((a, b) => b.index - a.index);
  }

  async latest(group: number): Promise<SnapshotFileId | undefined> {
    return (await this.list(group))[0];
  }

  /** Reads and verifies a whole snapshot, returning its chunks. */
  async read(snapshot: SnapshotFileId): Promise<Uint8Array[]> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of this.chunks(snapshot)) chunks.push(chunk);
    return chunks;
  }

  /**
   * Reads a snapshot chunk by chunk, verifying each as it goes, so that only one chunk is
   * in memory at a time (a transfer streams a file this way). A damaged file fails at
   * its damaged chunk: chunks yielded before it were sound, and a consumer must not act
   * on the snapshot before the generator has finished.
   */
  async *chunks(snapshot: SnapshotFileId): AsyncGenerator<Uint8Array> {
    const path = joinPath(this.dir, fileName(snapshot));
    // One reader for the whole stream: a newer snapshot may prune this file meanwhile.
    const file = await this.fs.openRead(path);
    try {
      yield* this.chunksOf(path, snapshot, file);
    } finally {
      await file.close();
    }
  }

  private async *chunksOf(path: string, snapshot: SnapshotFileId, file: WalReader): AsyncGenerator<Uint8Array> {
    const fail = (offset: number, what: string) => new SnapshotCorruptionError(`${path}: ${what} at offset ${offset}`);
    const header = Buffer.from(await file.read(0, HEADER_BYTES));
    if (header.length < HEADER_BYTES || !header.subarray(0, 4).equals(MAGIC)) throw fail(0, "not a snapshot file");
    if (header.readUInt8(4) !== VERSION) throw fail(4, `unsupported version ${header.readUInt8(4)}`);
    const found = { group: header.readUInt32LE(5), index: Number(header.readBigUInt64LE(9)), term: Number(header.readBigUInt64LE(17)) };
    if (found.group !== snapshot.group || found.index !== snapshot.index || found.term !== snapshot.term) throw fail(5, "header does not match the file name");
    let offset = HEADER_BYTES;
    for (let count = 0; ; count++) {
      const frame = Buffer.from(await file.read(offset, 8));
      if (frame.length < 8) throw fail(offset, "truncated (no end mark)");
      const length = frame.readUInt32LE(0);
      if (length === END_MARK) {
        if (frame.readUInt32LE(4) !== count) throw fail(offset, "chunk count mismatch");
        return;
      }
      if (length > SNAPSHOT_CHUNK_BYTES_MAX) throw fail(offset, `bad chunk length ${length}`);
      const chunk = await file.read(offset + 8, length);
      if (chunk.length !== length) throw fail(offset, `bad chunk length ${length}`);
      if (crc32(chunk) !== frame.readUInt32LE(4)) throw fail(offset, "chunk checksum mismatch");
      yield chunk;
      offset += 8 + length;
    }
  }

  /** Deletes all but the newest `keep` snapshots of a group (and stray temporary files). */
  async prune(group: number, keep = 1): Promise<void> {
    for (const old of (await this.list(group)).slice(keep)) await this.fs.remove(joinPath(this.dir, fileName(old)));
    for (const name of await this.fs.list(this.dir).catch(() => [] as string[])) {
      if (name.startsWith(`snap-${group}-`) && name.endsWith(".tmp")) await this.fs.remove(joinPath(this.dir, name));
    }
  }
}
