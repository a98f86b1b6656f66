import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { placeShards } from "../config/cluster-config.js";
import type { MetaNode } from "../state-machine/meta-state.js";
import { leadersBalanced, planLeaderTransfers, type LedShard } from "./plan-leaders.js";
import { planPlacement } from "./plan-placement.js";

const node = (i: number): MetaNode => ({ id: `n${i}`, clientAddress: `h:${7300 + i}`, peerAddress: `h:${7400 + i}`, leaving: false });
const ids = (n: number) => Array.from({ length: n }, (_, i) => `n${i + 1}`);

function applied(shards: readonly LedShard[], transfers: ReturnType<typeof planLeaderTransfers>): LedShard[] {
  const to = new Map(transfers.map((t) => [t.shard, t.to]));
  return shards.map((s) => ({ ...s, leader: to.get(s.shard) ?? s.leader }));
}

function counts(shards: readonly LedShard[], nodes: readonly string[]): number[] {
  return nodes.map((id) => shards.filter((s) => s.leader === id).length);
}

/** The 12 shards after a 4th node joined 3: replicas balanced, and (as a new voter rarely is) no leader on the new node. */
function joinedFourth(): LedShard[] {
  const placement = planPlacement({ nodes: [1, 2, 3, 4].map(node), placement: placeShards([1, 2, 3].map(node), 12, 3) }, 3);
  return placement.map((voters, shard) => ({ shard, voters, leader: voters.find((v) => v !== "n4") }));
}

/** Random shards over `nodes`, each with `replicas` distinct voters and a leader among them (or none). */
const shardsArb = (nodeCount: number, replicas: number) =>
  fc.array(
    fc.record({
      voters: fc.shuffledSubarray(ids(nodeCount), { minLength: Math.min(replicas, nodeCount), maxLength: Math.min(replicas, nodeCount) }),
      leaderAt: fc.nat(replicas + 1),
    }),
    { minLength: 1, maxLength: 24 },
  );

describe("planLeaderTransfers", () => {
  it("gives a 4th node 3 of 12 leaders by transfer alone, leaving 3 on each node", () => {
    const shards = joinedFourth();
    const transfers = planLeaderTransfers(shards, ids(4));
    expect(counts(applied(shards, transfers), ids(4))).toEqual([3, 3, 3, 3]);
    for (const t of transfers) expect(shards[t.shard]!.voters).toContain(t.to);
    // n1 leads 9 of the 12: 6 must leave it, and no more move.
    expect(transfers).toHaveLength(6);
  });

  it("asks for nothing when leaders are balanced already", () => {
    const shards = [0, 1, 2, 3, 4, 5].map((shard) => ({ shard, voters: ids(3), leader: `n${(shard % 3) + 1}` }));
    expect(planLeaderTransfers(shards, ids(3))).toEqual([]);
  });

  it("leaves alone shards without a known leader, and nodes that may not lead", () => {
    const shards = [
      { shard: 0, voters: ids(3), leader: undefined },
      { shard: 1, voters: ids(3), leader: "n1" },
      { shard: 2, voters: ids(3), leader: "n1" },
      { shard: 3, voters: ids(3), leader: "n1" },
    ];
    const transfers = planLeaderTransfers(shards, ["n1", "n2"]);
    expect(transfers.every((t) => t.to === "n2" && t.shard !== 0)).toBe(true);
    expect(counts(applied(shards, transfers), ["n1", "n2"])).toEqual([2, 1]);
  });

  it("moves leaders only to voters of their shard, from its current leader, and the result is a fixed point", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 5 }), (n, r) => {
        fc.assert(
          fc.property(shardsArb(n, r), (raw) => {
            const shards = raw.map((s, shard) => ({ shard, voters: s.voters, leader: s.voters[s.leaderAt] }));
            const transfers = planLeaderTransfers(shards, ids(n));
            for (const t of transfers) {
              expect(t.from).toBe(shards[t.shard]!.leader);
              expect(shards[t.shard]!.voters).toContain(t.to);
            }
            expect(new Set(transfers.map((t) => t.shard)).size).toBe(transfers.length);
            const after = applied(shards, transfers);
            expect(planLeaderTransfers(after, ids(n))).toEqual([]);
          }),
          { numRuns: 20 },
        );
      }),
      { numRuns: 20 },
    );
  });

  it("balances whenever every shard has a leader and every node votes in every shard", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), (n) => {
        fc.assert(
          fc.property(fc.array(fc.nat(n - 1), { minLength: 1, maxLength: 30 }), (leaders) => {
            const shards = leaders.map((l, shard) => ({ shard, voters: ids(n), leader: `n${l + 1}` }));
            expect(leadersBalanced(applied(shards, planLeaderTransfers(shards, ids(n))), ids(n))).toBe(true);
          }),
          { numRuns: 30 },
        );
      }),
    );
  });

  it("balances the placements the cluster plans, from 3 to 8 nodes, whatever the leaders were", () => {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 8 }), fc.array(fc.nat(2), { minLength: 12, maxLength: 12 }), (n, picks) => {
        let placement = placeShards([1, 2, 3].map(node), 12, 3);
        for (let k = 4; k <= n; k++) placement = planPlacement({ nodes: Array.from({ length: k }, (_, i) => node(i + 1)), placement }, 3);
        const shards = placement.map((voters, shard) => ({ shard, voters, leader: voters[picks[shard]!] }));
        const after = applied(shards, planLeaderTransfers(shards, ids(n)));
        expect(leadersBalanced(after, ids(n))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
