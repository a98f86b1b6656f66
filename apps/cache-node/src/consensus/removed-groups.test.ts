import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openRemovedGroups } from "./removed-groups.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "distcache-removed-groups-"));
  dirs.push(dir);
  return dir;
}

describe("removed groups (tombstones)", () => {
  it("keeps each tombstone across reopening until it is cleared", async () => {
    const dir = dataDir();
    const first = await openRemovedGroups(dir);
    expect(first.has(3)).toBe(false);
    await first.add(3);
    await first.add(1);
    await first.add(3);
    expect(JSON.parse(readFileSync(join(dir, "removed-groups.json"), "utf8"))).toEqual({ format: 1, groups: [1, 3] });
    const reopened = await openRemovedGroups(dir);
    expect([reopened.has(1), reopened.has(3), reopened.has(2)]).toEqual([true, true, false]);
    await reopened.delete(3);
    const again = await openRemovedGroups(dir);
    expect([again.has(1), again.has(3)]).toEqual([true, false]);
  });

  it("writes concurrent changes one at a time, and loses none", async () => {
    const dir = dataDir();
    const groups = await openRemovedGroups(dir);
    await Promise.all([groups.add(1), groups.add(2), groups.add(3), groups.delete(2), groups.add(4)]);
    const reopened = await openRemovedGroups(dir);
    expect([1, 2, 3, 4].map((g) => reopened.has(g))).toEqual([true, false, true, true]);
  });

  it("refuses a file it cannot read, naming it", async () => {
    const dir = dataDir();
    const path = join(dir, "removed-groups.json");
    writeFileSync(path, "{not json");
    await expect(openRemovedGroups(dir)).rejects.toThrow(`${path} is not valid JSON`);
    writeFileSync(path, JSON.stringify({ format: 1, groups: [1, -2] }));
    await expect(openRemovedGroups(dir)).rejects.toThrow(/not a removed-groups file of format 1/);
  });
});
