import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { placeShards } from "../config/cluster-config.js";
import type { MetaNode } from "../state-machine/meta-state.js";
import { addedReplicas, planPlacement } from "./plan-placement.js";

const node = (i: number, leaving = false): MetaNode => ({ id: `n${i}`, clientAddress: `h:${7300 + i}`, peerAddress: `h:${7400 + i}`, leaving });
const members = (n: number) => Array.from({ length: n }, (_, i) => node(i + 1));

function loads(plan: readonly string[][]): Map<string, number> {
  const out = new Map<string, number>();
  for (const shard of plan) for (const id of shard) out.set(id, (out.get(id) ?? 0) + 1);
  return out;
}

/**
 * Fewer replicas than this no balanced placement adds: those short shards lack, and those
 * that bring each node up to its share. (A placement can need more: a shard short of a
 * replica may hold every node that is below its share already.)
 */
function fewestAdded(placement: readonly string[][], live: readonly string[], want: number): number {
  const kept = placement.map((s) => s.filter((id) => live.includes(id)));
  const short = kept.reduce((sum, s) => sum + Math.max(0, want - s.length), 0);
  const held = live.map((id) => kept.filter((s) => s.includes(id)).length).sort((a, b) => b - a);
  const total = placement.length * want;
  const share = (i: number) => Math.floor(total / live.length) + (i < total % live.length ? 1 : 0);
  const up = held.reduce((sum, h, i) => sum + Math.max(0, share(i) - h), 0);
  return Math.max(short, up);
}

describe("planPlacement", () => {
  it("gives a 4th node 9 of the 36 replicas of 12 shards on 3 nodes, and moves no other", () => {
    const before = placeShards(members(3), 12, 3);
    const plan = planPlacement({ nodes: members(4), placement: before }, 3);
    const added = addedReplicas(before, plan);
    expect(added).toHaveLength(9);
    expect(added.every((a) => a.node === "n4")).toBe(true);
    expect([...loads(plan).values()]).toEqual([9, 9, 9, 9]);
  });

  it("re-creates a leaving node's replicas on the others, evenly", () => {
    const before = placeShards(members(4), 12, 3);
    const nodes = [...members(3), node(4, true)];
    const plan = planPlacement({ nodes, placement: before }, 3);
    expect(plan.every((s) => s.length === 3 && !s.includes("n4"))).toBe(true);
    expect(addedReplicas(before, plan)).toHaveLength(9);
    expect([...loads(plan).values()]).toEqual([12, 12, 12]);
  });

  it("changes nothing in a placement that is balanced already", () => {
    const before = placeShards(members(6), 12, 3);
    expect(planPlacement({ nodes: members(6), placement: before }, 3)).toEqual(before.map((s) => [...s].sort()));
  });

  it("drops the replicas a shard holds beyond the count, from its busiest nodes", () => {
    const plan = planPlacement({ nodes: members(3), placement: [["n1", "n2", "n3"], ["n1"]] }, 2);
    expect(plan.map((s) => s.length)).toEqual([2, 2]);
    expect(Math.max(...loads(plan).values()) - Math.min(...loads(plan).values())).toBeLessThanOrEqual(1);
  });

  it("fills a shard whose lacking nodes are at their share by trading places with a replica planned elsewhere", () => {
    const nodes = [node(1, true), node(2, true), node(3), node(4), node(5), node(6), node(7)];
    const before = [["n3"], [], [], [], ["n6"]];
    const plan = planPlacement({ nodes, placement: before }, 3);
    expect(addedReplicas(before, plan)).toHaveLength(13);
    expect([...loads(plan).values()]).toEqual([3, 3, 3, 3, 3]);
  });

  const clusters = fc
    .record({ nodes: fc.integer({ min: 1, max: 9 }), shards: fc.integer({ min: 1, max: 24 }), want: fc.integer({ min: 1, max: 5 }), seed: fc.integer() })
    .chain(({ nodes, shards, want, seed }) =>
      fc.record({
        nodes: fc.constant(nodes),
        want: fc.constant(want),
        seed: fc.constant(seed),
        leaving: fc.subarray(Array.from({ length: nodes }, (_, i) => i + 1)),
        placement: fc.array(fc.uniqueArray(fc.integer({ min: 1, max: nodes + 2 }), { minLength: 0, maxLength: want }), {
          minLength: shards,
          maxLength: shards,
        }),
      }),
    );

  it("places every shard on distinct live nodes, balanced, and plans nothing more once there", () => {
    fc.assert(
      fc.property(clusters, ({ nodes, want, leaving, placement }) => {
        const metaNodes = Array.from({ length: nodes }, (_, i) => node(i + 1, leaving.includes(i + 1)));
        const live = metaNodes.filter((n) => !n.leaving).map((n) => n.id);
        const before = placement.map((s) => s.map((i) => `n${i}`));
        const plan = planPlacement({ nodes: metaNodes, placement: before }, want);
        if (live.length === 0) return;
        const replicas = Math.min(want, live.length);
        for (const shard of plan) {
          expect(shard).toHaveLength(replicas);
          expect(new Set(shard).size).toBe(replicas);
          expect(shard.every((id) => live.includes(id))).toBe(true);
        }
        const counts = live.map((id) => loads(plan).get(id) ?? 0);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        expect(addedReplicas(before, plan).length).toBeGreaterThanOrEqual(fewestAdded(before, live, replicas));
        expect(planPlacement({ nodes: metaNodes, placement: plan }, want)).toEqual(plan);
      }),
      { numRuns: 3000 },
    );
  });

  it("adds the fewest replicas when nodes join a balanced cluster", () => {
    const changes = fc.record({
      nodes: fc.integer({ min: 1, max: 8 }),
      shards: fc.integer({ min: 1, max: 36 }),
      want: fc.integer({ min: 1, max: 5 }),
      joining: fc.integer({ min: 0, max: 4 }),
    });
    fc.assert(
      fc.property(changes, ({ nodes, shards, want, joining }) => {
        const start = planPlacement({ nodes: members(nodes), placement: Array.from({ length: shards }, () => []) }, want);
        const after = members(nodes + joining);
        const plan = planPlacement({ nodes: after, placement: start }, want);
        expect(addedReplicas(start, plan)).toHaveLength(
          fewestAdded(
            start,
            after.map((n) => n.id),
            Math.min(want, after.length),
          ),
        );
      }),
      { numRuns: 3000 },
    );
  });
});
