import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";

/**
 * The single-node command log: an append-only file of length-prefixed, checksummed
 * records, each holding one replicated command of one shard at its log index.
 *
 * Record layout (little endian):
 *   u32 payload length | u32 CRC-32 of payload | payload
 *   payload = u32 shard | u32 index high | u32 index low | command bytes
 *
 * Recovery discards a torn last record (a crash mid-append) and refuses to start on
 * a bad record anywhere else, naming the file and offset, because silently skipping
 * it would lose acknowledged writes.
 */
export interface LogRecord {
  shard: number;
  index: number;
  command: Uint8Array;
}

const HEADER_BYTES = 8;
const PAYLOAD_HEADER_BYTES = 12;
/** A record larger than this is treated as corruption rather than allocated. */
export const RECORD_BYTES_MAX = 64 * 1024 * 1024;

export class LogCorruptionError extends Error {
  override name = "LogCorruptionError";
}

export interface RecoveredLog {
  records: LogRecord[];
  /** Bytes of a torn tail that recovery cut off (0 when the log ended cleanly). */
  tornBytes: number;
}

export function encodeRecords(records: readonly LogRecord[]): Buffer {
  let total = 0;
  for (const r of records) total += HEADER_BYTES + PAYLOAD_HEADER_BYTES + r.command.length;
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const r of records) {
    const payloadBytes = PAYLOAD_HEADER_BYTES + r.command.length;
    const payloadStart = offset + HEADER_BYTES;
    out.writeUInt32LE(payloadBytes, offset);
    out.writeUInt32LE(r.shard, payloadStart);
    out.writeUInt32LE(Math.floor(r.index / 2 ** 32), payloadStart + 4);
    out.writeUInt32LE(r.index >>> 0, payloadStart + 8);
    out.set(r.command, payloadStart + PAYLOAD_HEADER_BYTES);
    out.writeUInt32LE(crc32(out.subarray(payloadStart, payloadStart + payloadBytes)), offset + 4);
    offset = payloadStart + payloadBytes;
  }
  return out;
}

/** Parses a whole log image. Throws LogCorruptionError for damage before the last record. */
export function decodeRecords(data: Uint8Array, name = "log"): RecoveredLog {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const records: LogRecord[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const problem = recordProblem(buf, offset);
    if (problem !== undefined) {
      if (problem.torn) return { records, tornBytes: buf.length - offset };
      throw new LogCorruptionError(`${name}: ${problem.message} at offset ${offset}; refusing to start (the log is damaged before its last record)`);
    }
    const payloadBytes = buf.readUInt32LE(offset);
    const p = offset + HEADER_BYTES;
    records.push({
      shard: buf.readUInt32LE(p),
      index: buf.readUInt32LE(p + 4) * 2 ** 32 + buf.readUInt32LE(p + 8),
      command: buf.subarray(p + PAYLOAD_HEADER_BYTES, p + payloadBytes),
    });
    offset = p + payloadBytes;
  }
  return { records, tornBytes: 0 };
}

/** Why the record at offset is unreadable, and whether that can only be a torn tail. */
function recordProblem(buf: Buffer, offset: number): { torn: boolean; message: string } | undefined {
  const remaining = buf.length - offset;
  if (remaining < HEADER_BYTES) return { torn: true, message: "truncated header" };
  const payloadBytes = buf.readUInt32LE(offset);
  if (payloadBytes < PAYLOAD_HEADER_BYTES || payloadBytes > RECORD_BYTES_MAX) {
    // A garbage length on the last record is a torn write; anywhere else it is corruption.
    return { torn: false, message: `impossible record length ${payloadBytes}` };
  }
  const end = offset + HEADER_BYTES + payloadBytes;
  if (end > buf.length) return { torn: true, message: "truncated record" };
  const expected = buf.readUInt32LE(offset + 4);
  const actual = crc32(buf.subarray(offset + HEADER_BYTES, end));
  if (expected !== actual) return { torn: end === buf.length, message: `checksum mismatch (stored ${expected}, computed ${actual})` };
  return undefined;
}

/**
 * Appends batches to the log file with one write and one fdatasync per batch, so many
 * proposals share one sync (group commit).
 */
export class CommandLog {
  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
  ) {}

  /** Opens (creating if needed) the log in dataDir, recovering what it holds. */
  static async open(dataDir: string): Promise<{ log: CommandLog; recovered: RecoveredLog }> {
    mkdirSync(dataDir, { recursive: true });
    const path = join(dataDir, "commands.log");
    const recovered = existsSync(path) ? decodeRecords(readFileSync(path), path) : { records: [], tornBytes: 0 };
    if (recovered.tornBytes > 0) {
      const fd = openSync(path, "r+");
      try {
        const size = readFileSync(path).length;
        ftruncateSync(fd, size - recovered.tornBytes);
      } finally {
        closeSync(fd);
      }
    }
    const handle = await open(path, "a");
    return { log: new CommandLog(handle, path), recovered };
  }

  async append(records: readonly LogRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.handle.write(encodeRecords(records));
    await this.handle.datasync();
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
