import { describe, expect, it } from "vitest";
import type { GroupStatus } from "../consensus/multi-raft.js";
import { ClusterView, type TopologyView } from "./cluster-view.js";
import type { MetaSummary } from "./meta-view.js";

const status = (leaderId: string | undefined, term: number, leading: boolean, voters = ["n1", "n2", "n3"]): GroupStatus => ({
  leaderId,
  leading,
  term,
  voters,
  learners: [],
  commit: 1,
  membershipCommitted: true,
  applied: 1,
  match: new Map(),
});

const nodes = ["n1", "n2", "n3", "n4"].map((id) => ({ id, clientAddress: `${id}:7301`, peerAddress: `${id}:7401` }));

/** A view on n4, which holds shard 0 only, of 3 shards; the other nodes answer from `remote`. */
function viewOn(remote: Record<string, Map<number, GroupStatus>>, local = new Map<number, GroupStatus>([[0, status("n4", 1, true)]])) {
  const asked: { node: string; groups: readonly number[] }[] = [];
  let summary: MetaSummary = { epoch: 2, nodes };
  let epochNow = 2;
  const view = new ClusterView({
    nodeId: "n4",
    shardCount: 3,
    local: (g) => local.get(g),
    remote: (node, groups) => {
      asked.push({ node, groups });
      return Promise.resolve(remote[node]);
    },
    summary: () => Promise.resolve(summary),
    epochNow: () => epochNow,
    remoteIntervalMs: 60_000,
    localIntervalMs: 60_000,
  });
  const setEpoch = (epoch: number) => {
    summary = { epoch, nodes };
    epochNow = epoch;
  };
  return { view, asked, setEpoch, local };
}

describe("ClusterView", () => {
  it("takes its own replicas' state, and for other shards the replica that leads at the highest term", async () => {
    const { view, asked } = viewOn({
      n1: new Map([[1, status("n1", 3, true)]]),
      // n2 still thinks it leads shard 1 at an older term; it leads shard 2 at term 5.
      n2: new Map([
        [1, status("n2", 2, true)],
        [2, status("n2", 5, true)],
      ]),
      n3: new Map([[2, status("n2", 5, false)]]),
    });
    await view.poll();
    const now = view.current();
    expect(now.epoch).toBe(2);
    expect(now.shards.map((s) => [s.shard, s.leaderId, s.term])).toEqual([
      [0, "n4", 1],
      [1, "n1", 3],
      [2, "n2", 5],
    ]);
    expect(view.leaderOf(2)).toBe("n2");
    // Only the shards it holds no replica of are asked for, and never of itself.
    expect(asked.every((a) => a.node !== "n4" && a.groups.join() === "1,2")).toBe(true);
  });

  it("asks no other node while it holds every shard", async () => {
    const local = new Map([0, 1, 2].map((g) => [g, status("n4", 1, true)]));
    const { view, asked } = viewOn({}, local);
    await view.poll();
    expect(asked).toEqual([]);
    expect(view.current().shards.every((s) => s.leaderId === "n4")).toBe(true);
  });

  it("tells listeners of each change of a leader or the epoch, once", async () => {
    const remote = {
      n1: new Map([
        [1, status("n1", 3, true)],
        [2, status("n1", 3, true)],
      ]),
    };
    const { view, setEpoch } = viewOn(remote);
    const heard: TopologyView[] = [];
    view.subscribe((v) => heard.push(v));
    await view.poll();
    await view.poll();
    expect(heard).toHaveLength(1);
    remote.n1.set(1, status("n2", 4, false));
    await view.poll();
    expect(heard).toHaveLength(2);
    expect(heard[1]!.shards[1]!.leaderId).toBe("n2");
    setEpoch(3);
    await view.poll();
    expect(heard.map((v) => v.epoch)).toEqual([2, 2, 3]);
  });

  it("knows no leader for a shard nobody answered for", async () => {
    const { view } = viewOn({});
    await view.poll();
    expect(view.current().shards[1]).toEqual({ shard: 1, leaderId: undefined, term: 0, voters: [], learners: [] });
  });
});
