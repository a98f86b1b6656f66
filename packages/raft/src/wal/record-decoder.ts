import type { ConfState } from "../conf-state.js";
import type { Entry, EntryKind } from "../entry.js";
import type { HardState } from "../hard-state.js";
import type { LogIndex, NodeId, Term } from "../types.js";
import { ByteReader, FormatVersionError, RecordDecodeError } from "./byte-reader.js";
import { GROUP_ID_MAX } from "./group-id.js";
import type { GroupCheckpoint, WalRecord } from "./wal-record.js";
import { CHECKPOINT_MAGIC, CONF_STATE_BYTES_MAX, FORMAT_VERSIONS_READ, NODE_ID_BYTES_MAX, RECORD_TYPE } from "./wal-record.js";
import { EMPTY_CONF_STATE } from "../conf-state.js";
import { ENTRY_KIND_BYTE } from "./record-encoder.js";

const KIND_OF_BYTE: readonly EntryKind[] = (Object.entries(ENTRY_KIND_BYTE) as [EntryKind, number][]).sort((a, b) => a[1] - b[1]).map(([kind]) => kind);

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes the body `bytes[start, end)` of a record whose checksum matched.
 * Throws `RecordDecodeError` if it does not decode: a bug in the writer, or
 * corruption that happened to keep the CRC valid.
 */
export function decodeRecord(bytes: Uint8Array, start: number, end: number): WalRecord {
  const reader = new ByteReader(bytes, start, end);
  const type = reader.u8();
  let record: WalRecord;
  switch (type) {
    case RECORD_TYPE.entries:
      // Entries outlive the segment buffer, so they get their own copy of the record (one allocation per record, not per entry).
      record = decodeEntries(new ByteReader(copyBytes(bytes, start, end), 1, end - start));
      break;
    case RECORD_TYPE.hardState:
      record = { type: "hardState", group: readGroup(reader), hardState: readHardState(reader) };
      break;
    case RECORD_TYPE.compact:
      record = {
        type: "compact",
        group: readGroup(reader),
        index: reader.varint() as LogIndex,
        term: reader.varint() as Term,
        keptSuffix: readFlag(reader),
        confState: undefined,
      };
      break;
    case RECORD_TYPE.snapshot: {
      const group = readGroup(reader);
      const index = reader.varint() as LogIndex;
      const term = reader.varint() as Term;
      const keptSuffix = readFlag(reader);
      record = { type: "compact", group, index, term, keptSuffix, confState: readConfState(reader) };
      break;
    }
    case RECORD_TYPE.dropGroup:
      record = { type: "dropGroup", group: readGroup(reader) };
      break;
    case RECORD_TYPE.bootstrap:
      record = { type: "bootstrap", group: readGroup(reader), confState: readConfState(reader) };
      break;
    case RECORD_TYPE.checkpoint:
      record = decodeCheckpoint(reader);
      break;
    default:
      throw new RecordDecodeError(`unknown record type ${type}`);
  }
  if (record.type !== "entries" && !reader.isAtEnd) throw new RecordDecodeError(`${end - reader.position} unexpected bytes after a ${record.type} record`);
  return record;
}

/** A plain Uint8Array copy (slice() on a Buffer would return a Buffer, and entries hold plain Uint8Arrays). */
function copyBytes(bytes: Uint8Array, start: number, end: number): Uint8Array {
  const copy = new Uint8Array(end - start);
  copy.set(bytes.subarray(start, end));
  return copy;
}

function decodeEntries(reader: ByteReader): WalRecord {
  const group = readGroup(reader);
  const firstIndex = reader.varint();
  const count = reader.varint();
  if (count === 0) throw new RecordDecodeError("entries record holds no entry");
  if (firstIndex < 1 || firstIndex + count - 1 > Number.MAX_SAFE_INTEGER)
    throw new RecordDecodeError(`entries record index range ${firstIndex}+${count} is invalid`);
  // Each entry takes at least 3 bytes, so a huge count from a bad writer fails fast instead of allocating.
  if (count > (reader.end - reader.position) / 3) throw new RecordDecodeError(`entries record claims ${count} entries in ${reader.end - reader.position} B`);
  const entries = new Array<Entry>(count);
  for (let i = 0; i < count; i++) {
    const term = reader.varint() as Term;
    const kind = KIND_OF_BYTE[reader.u8()];
    if (kind === undefined) throw new RecordDecodeError(`entry kind byte is unknown`);
    const data = reader.bytesView(reader.varint());
    entries[i] = { term, index: (firstIndex + i) as LogIndex, kind, data };
  }
  if (!reader.isAtEnd) throw new RecordDecodeError(`${reader.end - reader.position} unexpected bytes after the entries`);
  return { type: "entries", group, entries };
}

function decodeCheckpoint(reader: ByteReader): WalRecord {
  const magic = reader.u8() | (reader.u8() << 8) | (reader.u8() << 16) | (reader.u8() << 24);
  if (magic >>> 0 !== CHECKPOINT_MAGIC) throw new RecordDecodeError(`checkpoint magic 0x${(magic >>> 0).toString(16)} is not a distcache WAL`);
  const version = reader.varint();
  if (!FORMAT_VERSIONS_READ.includes(version)) throw new FormatVersionError(version);
  const segmentSeq = reader.varint();
  const count = reader.varint();
  const groups: GroupCheckpoint[] = [];
  for (let i = 0; i < count; i++) {
    const group = readGroup(reader);
    const hardState = readHardState(reader);
    const snapshotIndex = reader.varint() as LogIndex;
    const snapshotTerm = reader.varint() as Term;
    const confState = version >= 2 ? readConfState(reader) : EMPTY_CONF_STATE;
    groups.push({ group, hardState, snapshotIndex, snapshotTerm, confState });
  }
  return { type: "checkpoint", segmentSeq, groups };
}

function readConfState(reader: ByteReader): ConfState {
  const start = reader.position;
  const voters = readIds(reader);
  const learners = readIds(reader);
  if (reader.position - start > CONF_STATE_BYTES_MAX)
    throw new RecordDecodeError(`membership of ${reader.position - start} B exceeds ${CONF_STATE_BYTES_MAX} B`);
  return { voters, learners };
}

function readIds(reader: ByteReader): NodeId[] {
  const count = reader.varint();
  if (count > CONF_STATE_BYTES_MAX) throw new RecordDecodeError(`membership lists ${count} ids`);
  const ids: NodeId[] = [];
  for (let i = 0; i < count; i++) {
    const bytes = reader.varint();
    if (bytes === 0 || bytes > NODE_ID_BYTES_MAX) throw new RecordDecodeError(`member id of ${bytes} B is invalid`);
    ids.push(decodeUtf8(reader.bytesView(bytes)) as NodeId);
  }
  return ids;
}

function readGroup(reader: ByteReader): number {
  const group = reader.varint();
  if (group > GROUP_ID_MAX) throw new RecordDecodeError(`group id ${group} exceeds ${GROUP_ID_MAX}`);
  return group;
}

function readFlag(reader: ByteReader): boolean {
  const flag = reader.u8();
  if (flag > 1) throw new RecordDecodeError(`flag byte ${flag} is neither 0 nor 1`);
  return flag === 1;
}

function readHardState(reader: ByteReader): HardState {
  const term = reader.varint() as Term;
  const voteBytes = reader.varint();
  if (voteBytes > NODE_ID_BYTES_MAX) throw new RecordDecodeError(`vote of ${voteBytes} B exceeds ${NODE_ID_BYTES_MAX} B`);
  const vote = voteBytes === 0 ? undefined : decodeUtf8(reader.bytesView(voteBytes));
  return { term, vote: vote as NodeId | undefined, commit: reader.varint() as LogIndex };
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new RecordDecodeError("node id is not valid UTF-8");
  }
}
