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
    await first.add(3, { term: 4, vote: "n2" });
    await first.add(1, { term: 2, vote: undefined });
    await first.add(3, { term: 5, vote: "n1" });
    // An older promise never replaces a newer one.
    await first.add(3, { term: 4, vote: "n3" });
    expect(JSON.parse(readFileSync(join(dir, "removed-groups.json"), "utf8"))).toEqual({
      format: 2,
      groups: [
        { group: 1, term: 2, vote: null },
        { group: 3, term: 5, vote: "n1" },
      ],
    });
    const reopened = await openRemovedGroups(dir);
    expect([reopened.has(1), reopened.has(3), reopened.has(2)]).toEqual([true, true, false]);
    expect([reopened.vote(1), reopened.vote(3), reopened.vote(2)]).toEqual([{ term: 2, vote: undefined }, { term: 5, vote: "n1" }, undefined]);
    await reopened.delete(3);
    const again = await openRemovedGroups(dir);
    expect([again.has(1), again.has(3)]).toEqual([true, false]);
  });

  it("writes concurrent changes one at a time, and loses none", async () => {
    const dir = dataDir();
    const groups = await openRemovedGroups(dir);
    const v = { term: 1, vote: "n1" };
    await Promise.all([groups.add(1, v), groups.add(2, v), groups.add(3, v), groups.delete(2), groups.add(4, v)]);
    const reopened = await openRemovedGroups(dir);
    expect([1, 2, 3, 4].map((g) => reopened.has(g))).toEqual([true, false, true, true]);
  });

  it("refuses a file it cannot read, naming it", async () => {
    const dir = dataDir();
    const path = join(dir, "removed-groups.json");
    writeFileSync(path, "{not json");
    await expect(openRemovedGroups(dir)).rejects.toThrow(`${path} is not valid JSON`);
    writeFileSync(path, JSON.stringify({ format: 1, groups: [1, -2] }));
    await expect(openRemovedGroups(dir)).rejects.toThrow(/not a removed-groups file of format 1 or 2/);
    writeFileSync(path, JSON.stringify({ format: 2, groups: [{ group: 1, term: -1, vote: null }] }));
    await expect(openRemovedGroups(dir)).rejects.toThrow(/not a removed-groups file/);
  });

  it("reads a format-1 file: its tombstones hold no vote, so those groups never come back", async () => {
    const dir = dataDir();
    writeFileSync(join(dir, "removed-groups.json"), JSON.stringify({ format: 1, groups: [0, 2] }));
    const groups = await openRemovedGroups(dir);
    expect([groups.has(0), groups.vote(0), groups.has(2), groups.has(1)]).toEqual([true, undefined, true, false]);
  });
});
