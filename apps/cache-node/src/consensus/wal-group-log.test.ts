import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { asNodeId } from "@distcache/raft";
import { openWalGroupLog } from "./wal-group-log.js";

const silent = pino({ level: "silent" });
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "distcache-wal-voters-"));
  dirs.push(dir);
  return join(dir, "n1");
}

describe("the write-ahead log's bootstrap voters", () => {
  it("records each hosted group's voters once and refuses to open a group with other ones, naming the shard and both lists", async () => {
    const dir = join(dataDir(), "wal");
    const first = await openWalGroupLog(dir, silent, undefined, [
      { shard: 0, voters: ["n1", "n2", "n3"] },
      { shard: 2, voters: ["n3", "n1", "n2"] },
    ]);
    expect(first.storage(2, []).initialState().voters).toEqual(["n1", "n2", "n3"]);
    await first.close();
    const same = await openWalGroupLog(dir, silent, undefined, [{ shard: 2, voters: ["n1", "n2", "n3"] }]);
    await same.close();
    await expect(openWalGroupLog(dir, silent, undefined, [{ shard: 2, voters: ["n1", "n2", "n4"] }])).rejects.toThrow(
      `shard 2: the write-ahead log in ${dir} holds voters [n1,n2,n3] for this group (recorded at bootstrap), ` +
        "but this node's --initial-cluster, --shards and --replicas place it on [n1,n2,n4]",
    );
  });

  it("records a group bootstrapped at run time, lists it after reopening, and refuses it other voters", async () => {
    const dir = join(dataDir(), "wal");
    const first = await openWalGroupLog(dir, silent, undefined, [{ shard: 0, voters: ["n1", "n2", "n3"] }]);
    await first.bootstrap(5, [asNodeId("n3"), asNodeId("n2"), asNodeId("n1")]);
    await first.bootstrap(5, [asNodeId("n1"), asNodeId("n2"), asNodeId("n3")]);
    await first.close();
    const reopened = await openWalGroupLog(dir, silent, undefined, [{ shard: 0, voters: ["n1", "n2", "n3"] }]);
    expect(reopened.groups()).toEqual([
      { group: 0, voters: ["n1", "n2", "n3"] },
      { group: 5, voters: ["n1", "n2", "n3"] },
    ]);
    await expect(reopened.bootstrap(5, [asNodeId("n1"), asNodeId("n4")])).rejects.toThrow(`group 5 is recorded with voters [n1,n2,n3] in ${dir}, not [n1,n4]`);
    await reopened.close();
  });
});
