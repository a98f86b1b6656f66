import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CommandLog, LogCorruptionError, decodeRecords, encodeRecords, type LogRecord } from "./command-log.js";

const records: LogRecord[] = [
  { shard: 0, index: 1, command: new Uint8Array([1, 2, 3]) },
  { shard: 3, index: 2 ** 40 + 7, command: new Uint8Array(100).fill(9) },
  { shard: 11, index: 1, command: new Uint8Array([]) },
];
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("command log encoding", () => {
  it("round-trips records", () => {
    const decoded = decodeRecords(encodeRecords(records));
    expect(decoded.tornBytes).toBe(0);
    expect(decoded.records.map((r) => ({ ...r, command: [...r.command] }))).toEqual(records.map((r) => ({ ...r, command: [...r.command] })));
  });

  it("discards a torn last record cut at every byte offset", () => {
    const whole = encodeRecords(records);
    const lastStart = encodeRecords(records.slice(0, 2)).length;
    for (let cut = lastStart; cut < whole.length; cut++) {
      const decoded = decodeRecords(whole.subarray(0, cut));
      expect(decoded.records).toHaveLength(2);
      expect(decoded.tornBytes).toBe(cut - lastStart);
    }
  });

  it("refuses a flipped byte before the last record, naming the offset", () => {
    const whole = Buffer.from(encodeRecords(records));
    const secondStart = encodeRecords(records.slice(0, 1)).length;
    whole[secondStart + 40] = whole[secondStart + 40]! ^ 0xff;
    expect(() => decodeRecords(whole, "commands.log")).toThrow(LogCorruptionError);
    expect(() => decodeRecords(whole, "commands.log")).toThrow(`commands.log: checksum mismatch`);
    expect(() => decodeRecords(whole, "commands.log")).toThrow(`at offset ${secondStart}`);
  });
});

describe("CommandLog on disk", () => {
  it("appends, recovers and truncates a torn tail", async () => {
    const dir = mkdtempSync(join(tmpdir(), "distcache-log-"));
    dirs.push(dir);
    const first = await CommandLog.open(dir);
    await first.log.append(records);
    await first.log.close();
    const path = join(dir, "commands.log");
    const full = readFileSync(path);
    writeFileSync(path, full.subarray(0, full.length - 2));
    const second = await CommandLog.open(dir);
    expect(second.recovered.records).toHaveLength(2);
    expect(second.recovered.tornBytes).toBeGreaterThan(0);
    await second.log.append([records[2]!]);
    await second.log.close();
    const third = await CommandLog.open(dir);
    expect(third.recovered.records).toHaveLength(3);
    expect(third.recovered.tornBytes).toBe(0);
    await third.log.close();
  });
});
