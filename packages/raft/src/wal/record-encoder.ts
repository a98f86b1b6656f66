import { crc32 } from "node:zlib";
import type { ConfState } from "../conf-state.js";
import { membershipBytes } from "../conf-state.js";
import type { Entry } from "../entry.js";
import type { HardState } from "../hard-state.js";
import type { LogIndex, Term } from "../types.js";
import type { GroupId } from "./group-id.js";
import { VARINT_BYTES_MAX, varintBytes, writeVarint } from "../varint.js";
import { WalLimitError } from "./wal-errors.js";
import type { GroupCheckpoint } from "./wal-record.js";
import { CHECKPOINT_MAGIC, CONF_STATE_BYTES_MAX, FORMAT_VERSION, NODE_ID_BYTES_MAX, RECORD_HEADER_BYTES, RECORD_TYPE } from "./wal-record.js";

/** Varint bytes of a group id (< 2^32), and of a count of entries in one record (< 2^35). */
const GROUP_VARINT_BYTES_MAX = 5;
const COUNT_VARINT_BYTES_MAX = 5;
/** type, group, first index, count. */
const ENTRIES_PREFIX_BYTES_MAX = 1 + GROUP_VARINT_BYTES_MAX + VARINT_BYTES_MAX + COUNT_VARINT_BYTES_MAX;
/** type, magic, version, segment number, group count. */
const CHECKPOINT_PREFIX_BYTES_MAX = 1 + 4 + 1 + VARINT_BYTES_MAX + COUNT_VARINT_BYTES_MAX;
/** group, hard state (term, vote length and bytes, commit), snapshot index and term, membership. */
const GROUP_CHECKPOINT_BYTES_MAX = GROUP_VARINT_BYTES_MAX + 3 * VARINT_BYTES_MAX + 1 + NODE_ID_BYTES_MAX + 2 * VARINT_BYTES_MAX + CONF_STATE_BYTES_MAX;

const utf8 = new TextEncoder();

/** The kind byte of an entry. Values are part of the format: never reuse one. */
export const ENTRY_KIND_BYTE = { command: 0, noop: 1, config: 2 } as const;

/** Upper bound of the checkpoint body for `groupsMax` groups, so options can be validated up front. */
export function checkpointBytesMax(groupsMax: number): number {
  return CHECKPOINT_PREFIX_BYTES_MAX + groupsMax * GROUP_CHECKPOINT_BYTES_MAX;
}

/** Bytes an entry takes inside an entries record: term, kind, data length, data. */
function entryBodyBytes(entry: Entry): number {
  return varintBytes(entry.term) + 1 + varintBytes(entry.data.byteLength) + entry.data.byteLength;
}

/** One entries record and the index of its last entry. */
export interface EncodedEntryRun {
  readonly bytes: Uint8Array;
  readonly lastIndex: LogIndex;
}

/**
 * Frames a run of consecutive entries of one group as one or more records, each
 * body at most `recordBytesMax`. Throws `WalLimitError` if one entry cannot fit
 * in a record on its own.
 */
export function encodeEntriesRecords(group: GroupId, entries: readonly Entry[], recordBytesMax: number): EncodedEntryRun[] {
  const records: EncodedEntryRun[] = [];
  const payloadBytesMax = recordBytesMax - ENTRIES_PREFIX_BYTES_MAX;
  let start = 0;
  while (start < entries.length) {
    let payloadBytes = 0;
    let end = start;
    while (end < entries.length) {
      const bytes = entryBodyBytes(entries[end]!);
      if (payloadBytes + bytes > payloadBytesMax) break;
      payloadBytes += bytes;
      end += 1;
    }
    if (end === start) {
      const entry = entries[start]!;
      throw new WalLimitError(
        `entry ${entry.index} of group ${group} holds ${entry.data.byteLength} B, more than a record fits (recordBytesMax ${recordBytesMax} B)`,
      );
    }
    records.push({ bytes: encodeEntryRun(group, entries, start, end, payloadBytes), lastIndex: entries[end - 1]!.index });
    start = end;
  }
  return records;
}

function encodeEntryRun(group: GroupId, entries: readonly Entry[], start: number, end: number, payloadBytes: number): Uint8Array {
  const firstIndex = entries[start]!.index;
  const count = end - start;
  const bodyBytes = 1 + varintBytes(group) + varintBytes(firstIndex) + varintBytes(count) + payloadBytes;
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + bodyBytes);
  let at = RECORD_HEADER_BYTES;
  record[at++] = RECORD_TYPE.entries;
  at = writeVarint(record, at, group);
  at = writeVarint(record, at, firstIndex);
  at = writeVarint(record, at, count);
  for (let i = start; i < end; i++) {
    const entry = entries[i]!;
    at = writeVarint(record, at, entry.term);
    record[at++] = ENTRY_KIND_BYTE[entry.kind];
    at = writeVarint(record, at, entry.data.byteLength);
    record.set(entry.data, at);
    at += entry.data.byteLength;
  }
  return seal(record, at);
}

export function encodeHardStateRecord(group: GroupId, hardState: HardState): Uint8Array {
  const vote = encodeVote(hardState);
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + 1 + GROUP_VARINT_BYTES_MAX + 3 * VARINT_BYTES_MAX + vote.byteLength);
  let at = RECORD_HEADER_BYTES;
  record[at++] = RECORD_TYPE.hardState;
  at = writeVarint(record, at, group);
  at = writeHardState(record, at, hardState, vote);
  return seal(record, at);
}

/** A snapshot point (type 6): the compaction outcome and the membership at `index`. */
export function encodeCompactRecord(group: GroupId, index: LogIndex, term: Term, keptSuffix: boolean, confState: ConfState): Uint8Array {
  const conf = encodeConfState(confState);
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + 1 + GROUP_VARINT_BYTES_MAX + 2 * VARINT_BYTES_MAX + 1 + conf.byteLength);
  let at = RECORD_HEADER_BYTES;
  record[at++] = RECORD_TYPE.snapshot;
  at = writeVarint(record, at, group);
  at = writeVarint(record, at, index);
  at = writeVarint(record, at, term);
  record[at++] = keptSuffix ? 1 : 0;
  record.set(conf, at);
  at += conf.byteLength;
  return seal(record, at);
}

/** The group's bootstrap membership (type 7). */
export function encodeBootstrapRecord(group: GroupId, confState: ConfState): Uint8Array {
  const conf = encodeConfState(confState);
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + 1 + GROUP_VARINT_BYTES_MAX + conf.byteLength);
  let at = RECORD_HEADER_BYTES;
  record[at++] = RECORD_TYPE.bootstrap;
  at = writeVarint(record, at, group);
  record.set(conf, at);
  at += conf.byteLength;
  return seal(record, at);
}

/** Voter count, each voter (length, UTF-8), learner count, each learner. Throws `WalLimitError` above CONF_STATE_BYTES_MAX. */
export function encodeConfState(confState: ConfState): Uint8Array {
  const bytes = membershipBytes(confState);
  if (bytes > CONF_STATE_BYTES_MAX) throw new WalLimitError(`membership takes ${bytes} B encoded, above ${CONF_STATE_BYTES_MAX} B`);
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const list of [confState.voters, confState.learners]) {
    at = writeVarint(out, at, list.length);
    for (const id of list) {
      const encoded = utf8.encode(id);
      at = writeVarint(out, at, encoded.byteLength);
      out.set(encoded, at);
      at += encoded.byteLength;
    }
  }
  return out;
}

export function encodeDropGroupRecord(group: GroupId): Uint8Array {
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + 1 + GROUP_VARINT_BYTES_MAX);
  let at = RECORD_HEADER_BYTES;
  record[at++] = RECORD_TYPE.dropGroup;
  at = writeVarint(record, at, group);
  return seal(record, at);
}

/** The first record of segment `segmentSeq`: the state of every live group as of its start. */
export function encodeCheckpointRecord(segmentSeq: number, groups: readonly GroupCheckpoint[]): Uint8Array {
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + checkpointBytesMax(groups.length));
  let at = RECORD_HEADER_BYTES;
  record[at++] = RECORD_TYPE.checkpoint;
  record.writeUInt32LE(CHECKPOINT_MAGIC, at);
  at += 4;
  at = writeVarint(record, at, FORMAT_VERSION);
  at = writeVarint(record, at, segmentSeq);
  at = writeVarint(record, at, groups.length);
  for (const checkpoint of groups) {
    at = writeVarint(record, at, checkpoint.group);
    at = writeHardState(record, at, checkpoint.hardState, encodeVote(checkpoint.hardState));
    at = writeVarint(record, at, checkpoint.snapshotIndex);
    at = writeVarint(record, at, checkpoint.snapshotTerm);
    const conf = encodeConfState(checkpoint.confState);
    record.set(conf, at);
    at += conf.byteLength;
  }
  return seal(record, at);
}

/** The vote's UTF-8 bytes; empty means "no vote" (a NodeId is never empty). */
export function encodeVote(hardState: HardState): Uint8Array {
  if (hardState.vote === undefined) return new Uint8Array(0);
  const bytes = utf8.encode(hardState.vote);
  if (bytes.byteLength > NODE_ID_BYTES_MAX)
    throw new WalLimitError(`vote ${JSON.stringify(hardState.vote)} is ${bytes.byteLength} B in UTF-8, above ${NODE_ID_BYTES_MAX} B`);
  return bytes;
}

function writeHardState(record: Uint8Array, offset: number, hardState: HardState, vote: Uint8Array): number {
  let at = writeVarint(record, offset, hardState.term);
  at = writeVarint(record, at, vote.byteLength);
  record.set(vote, at);
  at += vote.byteLength;
  return writeVarint(record, at, hardState.commit);
}

/** Fills in the header of a record whose body ends at `end`, and trims the spare capacity. */
function seal(record: Buffer, end: number): Uint8Array {
  const bodyBytes = end - RECORD_HEADER_BYTES;
  record.writeUInt32LE(bodyBytes, 0);
  record.writeUInt32LE(crc32(record.subarray(RECORD_HEADER_BYTES, end)), 4);
  record.writeUInt32LE(crc32(record.subarray(0, 8)), 8);
  return record.subarray(0, end);
}
