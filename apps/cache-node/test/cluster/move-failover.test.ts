import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SHARDS, TestCluster, sleep } from "./cluster-harness.js";
import { type GroupsView, clusterClient, groupsBecome, groupsNow, hostedBy, joinSettled, readsBack, shardsVotedBy, writer } from "./placement-checks.js";

// The meta group's leader, which drives every replica move, is killed with kill -9 in
// the middle of the moves a join starts. The driver on the next meta leader resumes: every
// move completes or is rolled back, checked against every group's own Raft configuration.
let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start(3);
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
});

const ALL = ["n1", "n2", "n3", "n4"];

/** Settled after n4's join, and each node holds exactly the groups whose configuration names it. */
const settled = (g: GroupsView) => joinSettled("n4")(g) && ALL.every((id) => g.hosted.get(id)?.join() === hostedBy(g, id).join());

describe("a replica move when the meta leader dies", () => {
  it("completes or rolls back, and the next meta leader finishes the placement", async () => {
    const writes = writer(cluster, () => "n1");
    await sleep(300);
    await cluster.join("n4", "n1");
    // Mid-move: n4 is a learner or a new voter somewhere, and not yet in all 9 groups.
    const moving = await groupsBecome(
      cluster,
      ALL,
      (g) =>
        [...g.leaders.values()].some((c) => c.learners.includes("n4") || c.voters.length > 3) ||
        (shardsVotedBy(g, "n4").length > 0 && shardsVotedBy(g, "n4").length < 9),
      30_000,
    );
    const metaLeader = moving!.leaders.get(SHARDS)!.leader;
    expect(shardsVotedBy(moving!, "n4").length).toBeLessThan(9);
    await cluster.kill(metaLeader);
    cluster.nodes.delete(metaLeader);
    const live = ALL.filter((id) => id !== metaLeader);
    // A new meta leader among the others takes the driving over.
    const failedOver = await groupsBecome(cluster, live, (g) => (g.leaders.get(SHARDS)?.leader ?? metaLeader) !== metaLeader, 30_000);
    expect(failedOver!.leaders.get(SHARDS)!.leader).not.toBe(metaLeader);
    await sleep(2000);
    await cluster.restart(metaLeader);
    const after = await groupsBecome(cluster, ALL, settled, 120_000);
    await writes.stop();
    expect(settled(after!)).toBe(true);
    // Each node's replicas are exactly the groups whose configuration names it: none left over.
    const view = await groupsNow(cluster, ALL);
    for (const id of ALL) expect(view.hosted.get(id), id).toEqual(hostedBy(view, id));
    // Every replica's own view of its group's voters becomes its leader's (a restarted one catches up first).
    for (const id of ALL) {
      const views = async () => {
        const { topology } = await clusterClient(cluster, id).getTopology({}, { timeoutMs: 5000 });
        return view.hosted
          .get(id)!
          .filter((group) => group < SHARDS)
          .map((shard) => [shard, [...topology!.shards[shard]!.replicas].sort().join()]);
      };
      const expected = view.hosted
        .get(id)!
        .filter((group) => group < SHARDS)
        .map((shard) => [shard, view.leaders.get(shard)!.voters.join()]);
      const deadline = Date.now() + 20_000;
      let seen = await views();
      while (JSON.stringify(seen) !== JSON.stringify(expected) && Date.now() < deadline) {
        await sleep(250);
        seen = await views();
      }
      expect(seen, id).toEqual(expected);
    }
    await readsBack(cluster, writes.acked, "n4");
  }, 240_000);
});
