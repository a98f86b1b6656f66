import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import type { HardState } from "../hard-state.js";
import type { LogIndex, NodeId, Term } from "../types.js";
import { FormatVersionError, RecordDecodeError } from "./byte-reader.js";
import { decodeRecord } from "./record-decoder.js";
import {
  checkpointBytesMax,
  encodeBootstrapRecord,
  encodeCheckpointRecord,
  encodeCompactRecord,
  encodeDropGroupRecord,
  encodeEntriesRecords,
  encodeHardStateRecord,
} from "./record-encoder.js";
import { makeEntries } from "./testing/wal-model.js";
import { WalLimitError } from "./wal-errors.js";
import { FORMAT_VERSION, NODE_ID_BYTES_MAX, RECORD_HEADER_BYTES } from "./wal-record.js";

const hs = (term: number, vote: string | undefined, commit: number): HardState => ({
  term: term as Term,
  vote: vote as NodeId | undefined,
  commit: commit as LogIndex,
});

function decode(record: Uint8Array): ReturnType<typeof decodeRecord> {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const bodyBytes = view.getUint32(0, true);
  expect(RECORD_HEADER_BYTES + bodyBytes).toBe(record.byteLength);
  expect(view.getUint32(4, true)).toBe(crc32(record.subarray(RECORD_HEADER_BYTES)));
  expect(view.getUint32(8, true)).toBe(crc32(record.subarray(0, 8)));
  return decodeRecord(record, RECORD_HEADER_BYTES, record.byteLength);
}

describe("record encoding", () => {
  it("round-trips entries with any term, kind and payload, including empty ones", () => {
    const entries = [...makeEntries(2 ** 40, 3, 2 ** 35, 0), ...makeEntries(2 ** 40 + 3, 2, 2 ** 35, 70)];
    const [run] = encodeEntriesRecords(4_000_000_000, entries, 1 << 20);
    const decoded = decode(run!.bytes);
    expect(decoded).toEqual({ type: "entries", group: 4_000_000_000, entries });
    expect(run!.lastIndex).toBe(2 ** 40 + 4);
  });

  it("splits entries into records of at most recordBytesMax", () => {
    const entries = makeEntries(1, 50, 3, 100);
    const runs = encodeEntriesRecords(9, entries, 1024);
    expect(runs.length).toBeGreaterThan(5);
    const decoded = runs.flatMap((run) => {
      expect(run.bytes.byteLength - RECORD_HEADER_BYTES).toBeLessThanOrEqual(1024);
      const record = decode(run.bytes);
      return record.type === "entries" ? record.entries : [];
    });
    expect(decoded).toEqual(entries);
  });

  it("refuses an entry that cannot fit in one record", () => {
    expect(() => encodeEntriesRecords(1, makeEntries(1, 1, 1, 2000), 1024)).toThrow(WalLimitError);
  });

  it.each([hs(0, undefined, 0), hs(7, "n3", 5), hs(2 ** 50, "ノード-é", 2 ** 50)])("round-trips hard state %j", (hardState) => {
    expect(decode(encodeHardStateRecord(12, hardState))).toEqual({ type: "hardState", group: 12, hardState });
  });

  it("refuses a vote longer than NODE_ID_BYTES_MAX", () => {
    expect(() => encodeHardStateRecord(1, hs(1, "n".repeat(NODE_ID_BYTES_MAX + 1), 0))).toThrow(WalLimitError);
  });

  it("round-trips compaction points, drops and checkpoints", () => {
    const conf = { voters: ["n1", "n2", "ノード"] as NodeId[], learners: ["n4"] as NodeId[] };
    expect(decode(encodeCompactRecord(3, 99 as LogIndex, 4 as Term, true, conf))).toEqual({
      type: "compact",
      group: 3,
      index: 99,
      term: 4,
      keptSuffix: true,
      confState: conf,
    });
    expect(decode(encodeDropGroupRecord(3))).toEqual({ type: "dropGroup", group: 3 });
    expect(decode(encodeBootstrapRecord(3, conf))).toEqual({ type: "bootstrap", group: 3, confState: conf });
    const groups = [
      { group: 1, hardState: hs(3, "n1", 10), snapshotIndex: 8 as LogIndex, snapshotTerm: 2 as Term, confState: conf },
      { group: 2, hardState: hs(0, undefined, 0), snapshotIndex: 0 as LogIndex, snapshotTerm: 0 as Term, confState: { voters: [], learners: [] } },
    ];
    expect(decode(encodeCheckpointRecord(77, groups))).toEqual({ type: "checkpoint", segmentSeq: 77, groups });
  });

  it("bounds the checkpoint size by checkpointBytesMax", () => {
    const groups = Array.from({ length: 16 }, (_, group) => ({
      group: 2 ** 32 - 1 - group,
      hardState: hs(Number.MAX_SAFE_INTEGER, "n".repeat(NODE_ID_BYTES_MAX), Number.MAX_SAFE_INTEGER),
      snapshotIndex: Number.MAX_SAFE_INTEGER as LogIndex,
      snapshotTerm: Number.MAX_SAFE_INTEGER as Term,
      confState: {
        voters: Array.from({ length: 9 }, (_, i) => `${"v".repeat(24)}${i}` as NodeId),
        learners: Array.from({ length: 9 }, (_, i) => `${"l".repeat(24)}${i}` as NodeId),
      },
    }));
    expect(encodeCheckpointRecord(Number.MAX_SAFE_INTEGER, groups).byteLength - RECORD_HEADER_BYTES).toBeLessThanOrEqual(checkpointBytesMax(16));
  });

  it("reads type-4 compaction points and format-1 checkpoints, which carry no membership", () => {
    expect(decodeRecord(new Uint8Array([4, 3, 99, 4, 1]), 0, 5)).toEqual({
      type: "compact",
      group: 3,
      index: 99,
      term: 4,
      keptSuffix: true,
      confState: undefined,
    });
    // checkpoint, magic, version 1, segment 7, one group: 2, term 3, no vote, commit 5, snapshot 4/2
    const body = new Uint8Array([1, 0x44, 0x43, 0x57, 0x4c, 1, 7, 1, 2, 3, 0, 5, 4, 2]);
    expect(decodeRecord(body, 0, body.length)).toEqual({
      type: "checkpoint",
      segmentSeq: 7,
      groups: [{ group: 2, hardState: hs(3, undefined, 5), snapshotIndex: 4, snapshotTerm: 2, confState: { voters: [], learners: [] } }],
    });
  });

  it("refuses a checkpoint of an unknown format version with both versions named", () => {
    const body = new Uint8Array([1, 0x44, 0x43, 0x57, 0x4c, 9, 1, 0]);
    expect(() => decodeRecord(body, 0, body.length)).toThrow(FormatVersionError);
    expect(FORMAT_VERSION).toBe(3);
  });

  it("refuses a membership larger than CONF_STATE_BYTES_MAX", () => {
    const voters = Array.from({ length: 30 }, (_, i) => `${"x".repeat(30)}${i}` as NodeId);
    expect(() => encodeCompactRecord(1, 1 as LogIndex, 1 as Term, true, { voters, learners: [] })).toThrow(WalLimitError);
  });
});

describe("record decoding refuses bodies the writer never produces", () => {
  const cases: Array<[string, number[]]> = [
    ["an unknown record type", [9, 1]],
    ["an empty body", []],
    ["bytes after a drop record", [5, 1, 0]],
    ["an entries record with no entry", [2, 1, 1, 0]],
    ["an entries record at index 0", [2, 1, 0, 1, 1, 0, 0]],
    ["an unknown entry kind", [2, 1, 1, 1, 1, 7, 0]],
    ["an entry whose data runs past the record", [2, 1, 1, 1, 1, 0, 5, 1]],
    ["a count larger than the record can hold", [2, 1, 1, 100, 1, 0, 0]],
    ["a group id past 2^32 - 1", [5, 0x80, 0x80, 0x80, 0x80, 0x10]],
    ["a compaction flag other than 0 or 1", [4, 1, 5, 1, 2]],
    ["a vote that is not UTF-8", [3, 1, 1, 1, 0xff, 0]],
    ["a checkpoint with a foreign magic", [1, 0x41, 0x42, 0x43, 0x44, 1, 1, 0]],
    ["a checkpoint of a newer format", [1, 0x44, 0x43, 0x57, 0x4c, 4, 1, 0]],
    ["a bootstrap record with bytes after its membership", [7, 1, 1, 1, 0x61, 0, 0]],
    ["a snapshot point whose member id runs past the record", [6, 1, 5, 1, 1, 1, 9, 0x6e]],
    ["a snapshot point with an empty member id", [6, 1, 5, 1, 1, 1, 0, 0]],
  ];

  it.each(cases)("%s", (_name, body) => {
    const bytes = new Uint8Array(body);
    expect(() => decodeRecord(bytes, 0, bytes.length)).toThrow(RecordDecodeError);
  });
});
