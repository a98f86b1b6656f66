import { describe, expect, it } from "vitest";
import { encodeCheckpointRecord, encodeDropGroupRecord } from "./record-encoder.js";
import { scanSegment } from "./segment-scanner.js";
import { parseSegmentName, segmentName } from "./segment-name.js";
import { WalCorruptionError } from "./wal-errors.js";
import type { WalRecord } from "./wal-record.js";

function concat(...parts: Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.byteLength;
  }
  return bytes;
}

const checkpoint = encodeCheckpointRecord(1, []);
const drop = encodeDropGroupRecord(3);
const segment = concat(checkpoint, drop, drop);

function scan(bytes: Uint8Array, isLast: boolean): { validBytes: number; torn: boolean; records: WalRecord["type"][] } {
  const records: WalRecord["type"][] = [];
  const result = scanSegment("seg", bytes, isLast, (record) => records.push(record.type));
  return { ...result, records };
}

describe("scanSegment", () => {
  it("reads every record of an intact segment", () => {
    expect(scan(segment, false)).toEqual({ validBytes: segment.byteLength, torn: false, records: ["checkpoint", "dropGroup", "dropGroup"] });
  });

  const tornTails: Array<[string, Uint8Array]> = [
    ["a partial header", segment.subarray(0, segment.byteLength - drop.byteLength + 5)],
    ["a partial body", segment.subarray(0, segment.byteLength - 1)],
    ["a zero-filled tail", concat(checkpoint, drop, new Uint8Array(40))],
    [
      "a last record whose body checksum fails",
      concat(
        checkpoint,
        drop,
        drop.map((byte, i) => (i === drop.byteLength - 1 ? byte ^ 1 : byte)),
      ),
    ],
  ];

  it.each(tornTails)("discards %s at the end of the last segment", (_name, bytes) => {
    const result = scan(bytes, true);
    expect(result).toMatchObject({ validBytes: checkpoint.byteLength + drop.byteLength, torn: true });
  });

  it.each(tornTails)("reports %s at the end of an earlier segment as corruption", (_name, bytes) => {
    expect(() => scan(bytes, false)).toThrow(WalCorruptionError);
  });

  it("reports a bad body checksum followed by more records as corruption, even in the last segment", () => {
    const damaged = segment.slice();
    damaged[checkpoint.byteLength + drop.byteLength - 1]! ^= 1;
    expect(() => scan(damaged, true)).toThrow(expect.objectContaining({ offset: checkpoint.byteLength, reason: "record body checksum mismatch" }));
  });

  it("reports a damaged length as corruption rather than a torn tail", () => {
    const damaged = segment.slice();
    damaged[checkpoint.byteLength + drop.byteLength + 1] = 0x7f;
    expect(() => scan(damaged, true)).toThrow(
      expect.objectContaining({ offset: checkpoint.byteLength + drop.byteLength, reason: "record header checksum mismatch" }),
    );
  });
});

describe("segment names", () => {
  it.each([1, 42, 9_007_199_254_740_991])("round-trips %d", (seq) => {
    expect(segmentName(seq)).toMatch(/^wal-\d{16}\.log$/);
    expect(parseSegmentName(segmentName(seq))).toBe(seq);
  });

  it.each(["wal-1.log", "wal-0000000000000000.log", "wal-0000000000000001.log.tmp", "notes.txt", "wal-000000000000000a.log"])("ignores %s", (name) => {
    expect(parseSegmentName(name)).toBeUndefined();
  });
});
