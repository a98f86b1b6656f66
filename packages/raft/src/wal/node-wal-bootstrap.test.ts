import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { RaftAssertionError } from "../assert.js";
import { RaftConfigError } from "../config.js";
import { RaftNode } from "../raft-node.js";
import { SeededRandom } from "../random.js";
import type { LogIndex, NodeId, Term } from "../types.js";
import { MemoryWalFs } from "./memory-wal-fs.js";
import { NodeWal } from "./node-wal.js";
import { makeEntries } from "./testing/wal-model.js";
import { WalFormatError } from "./wal-errors.js";
import { FORMAT_VERSION, RECORD_HEADER_BYTES } from "./wal-record.js";

const DIR = "/node/wal";
const ids = (...names: string[]) => names as NodeId[];

describe("NodeWal bootstrap membership", () => {
  it("records a group's voters once, returns them from initialState, and keeps them across reopens, rolls and compactions", async () => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { fs, segmentBytesMax: 1024, recordBytesMax: 8192, groupsMax: 4 });
    expect(wal.storage(1).initialState().voters).toEqual([]);
    await wal.bootstrap(1, ids("n3", "n1", "n2"));
    expect(wal.storage(1).initialState().voters).toEqual(["n1", "n2", "n3"]);
    // Until the first snapshot, the bootstrap membership is the configuration at index 0.
    expect(wal.storage(1).snapshot()).toEqual({ index: 0, term: 0, confState: { voters: ["n1", "n2", "n3"], learners: [] } });
    // Enough entries to roll several segments, so later checkpoints must carry the bootstrap membership.
    for (let i = 0; i < 10; i++) await wal.append([{ group: 1, entries: makeEntries(i * 5 + 1, 5, 1, 40) }], true);
    await wal.close();

    const reopened = await NodeWal.open(DIR, { fs, segmentBytesMax: 1024, recordBytesMax: 8192, groupsMax: 4 });
    expect(reopened.storage(1).initialState().voters).toEqual(["n1", "n2", "n3"]);
    expect(reopened.storage(1).snapshot().confState.voters).toEqual(["n1", "n2", "n3"]);
    // A later membership (recorded with a snapshot point) extends the bootstrap one, which stays what it was.
    await reopened.compact(1, 40 as LogIndex, 1 as Term, { voters: ids("n1", "n2", "n3", "n4"), learners: [] });
    for (let i = 10; i < 20; i++) await reopened.append([{ group: 1, entries: makeEntries(i * 5 + 1, 5, 1, 40) }], true);
    await reopened.close();

    // The segment holding the bootstrap record was released: later segments repeat it after their checkpoints.
    expect(await fs.list(DIR)).not.toContain("wal-0000000000000001.log");
    const again = await NodeWal.open(DIR, { fs, segmentBytesMax: 1024, recordBytesMax: 8192, groupsMax: 4 });
    expect(again.storage(1).initialState().voters).toEqual(["n1", "n2", "n3"]);
    expect(again.storage(1).snapshot().confState.voters).toEqual(["n1", "n2", "n3", "n4"]);
    expect(again.storage(1).lastIndex()).toBe(100);
    await again.close();
  });

  it("treats the same membership again as a no-op and refuses another one", async () => {
    const wal = await NodeWal.open(DIR, { fs: new MemoryWalFs() });
    await wal.bootstrap(2, ids("n1", "n2"));
    const written = wal.stats.bytesWritten;
    await wal.bootstrap(2, ids("n2", "n1"));
    expect(wal.stats.bytesWritten).toBe(written);
    await expect(wal.bootstrap(2, ids("n1", "n3"))).rejects.toThrow(RaftAssertionError);
    await expect(wal.bootstrap(3, ids("n1", "n1"))).rejects.toThrow(/duplicates/);
    await wal.close();
  });

  it("turns the core's check on: a group whose stored voters differ from the configured ones does not start", async () => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { fs });
    await wal.bootstrap(5, ids("n1", "n2", "n3"));
    await wal.close();
    const reopened = await NodeWal.open(DIR, { fs });
    const start = (voters: NodeId[]) => new RaftNode({ config: { id: "n1" as NodeId, voters }, storage: reopened.storage(5), random: new SeededRandom(1) });
    expect(() => start(ids("n1", "n2", "n4"))).toThrow(RaftConfigError);
    expect(() => start(ids("n1", "n2", "n4"))).toThrow("stored voters [n1,n2,n3] differ from configured [n1,n2,n4]");
    expect(start(ids("n3", "n2", "n1")).voters).toEqual(["n1", "n2", "n3"]);
    await reopened.close();
  });

  it("refuses a segment of an unknown format version, naming the file and both versions", async () => {
    const fs = new MemoryWalFs();
    const wal = await NodeWal.open(DIR, { fs });
    await wal.bootstrap(1, ids("n1"));
    await wal.close();
    const [name] = await fs.list(DIR);
    const path = `${DIR}/${name!}`;
    const bytes = new Uint8Array(await fs.readFile(path));
    // The checkpoint's body: type byte, 4 bytes of magic, then the version varint.
    const versionAt = RECORD_HEADER_BYTES + 5;
    expect(bytes[versionAt]).toBe(FORMAT_VERSION);
    bytes[versionAt] = 9;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const bodyEnd = RECORD_HEADER_BYTES + view.getUint32(0, true);
    view.setUint32(4, crc32(bytes.subarray(RECORD_HEADER_BYTES, bodyEnd)), true);
    view.setUint32(8, crc32(bytes.subarray(0, 8)), true);
    await fs.remove(path);
    const file = await fs.openAppend(path);
    await file.append(bytes);
    await file.close();
    const opened = NodeWal.open(DIR, { fs });
    await expect(opened).rejects.toThrow(WalFormatError);
    await expect(NodeWal.open(DIR, { fs })).rejects.toThrow(`${path} is in WAL format 9; this build writes format ${FORMAT_VERSION} and reads 1, 2, 3`);
  });
});
