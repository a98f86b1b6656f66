import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { groupByLeader, groupByShard, settleAll } from "./batch-plan.js";

describe("batch planning", () => {
  it("groups by shard in request order and merges shards with the same known leader", () => {
    const byShard = groupByShard(["a0", "b1", "c0", "d2", "e3"], (k) => Number(k[1]));
    expect([...byShard]).toEqual([
      [0, [0, 2]],
      [1, [1]],
      [2, [3]],
      [3, [4]],
    ]);
    const leaders: Record<number, string | undefined> = { 0: "n1", 1: "n2", 2: "n1", 3: undefined };
    expect(groupByLeader(byShard, (s) => leaders[s])).toEqual([
      { shards: [0, 2], indexes: [0, 2, 3] },
      { shards: [1], indexes: [1] },
      { shards: [3], indexes: [4] },
    ]);
  });

  it("every request index lands in exactly one group", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(7), { maxLength: 50 }),
        fc.array(fc.option(fc.constantFrom("n1", "n2", "n3")), { minLength: 8, maxLength: 8 }),
        (shards, leaders) => {
          const groups = groupByLeader(
            groupByShard(shards, (s) => s),
            (s) => leaders[s] ?? undefined,
          );
          const indexes = groups.flatMap((g) => g.indexes).sort((a, b) => a - b);
          expect(indexes).toEqual(shards.map((_, i) => i));
          for (const g of groups) expect(new Set(g.shards.map((s) => leaders[s] ?? `alone${s}`)).size).toBe(1);
        },
      ),
    );
  });

  it("settleAll waits for every part and throws the earliest failure", async () => {
    let lateDone = false;
    const late = new Promise<number>((resolve) => setTimeout(() => resolve((lateDone = true) ? 3 : 0), 10));
    await expect(settleAll([Promise.resolve(1), Promise.reject(new Error("first")), Promise.reject(new Error("second")), late])).rejects.toThrow("first");
    expect(lateDone).toBe(true);
    expect(await settleAll([Promise.resolve(1), Promise.resolve(2)])).toEqual([1, 2]);
  });
});
