import { describe, expect, it } from "vitest";
import type { FakeCluster } from "./testing/fake-cluster.js";
import { setupClient, warm } from "./testing/setup-client.js";

/** A key of `shard` on the fake cluster. */
function keyOf(cluster: FakeCluster, shard: number): string {
  for (let i = 0; ; i++) if (cluster.ring.shardFor(`k${i}`) === shard) return `k${i}`;
}

const open = (cluster: FakeCluster) => [...cluster.watching.values()].reduce((a, b) => a + b, 0);

describe("the topology watch", () => {
  it("follows a leader change before any call hits the old leader, and closes its stream with the client", async () => {
    const { client, cluster, events } = setupClient({ watchTopology: true });
    await client.set(keyOf(cluster, 0), "a");
    await expect.poll(() => open(cluster)).toBe(1);
    const to = cluster.nodeIds.find((id) => id !== cluster.leaderOf(0))!;
    cluster.setLeader(0, to);
    await expect.poll(() => events.some((e) => e.type === "leaderChanged" && e.shard === 0 && e.leaderId === to)).toBe(true);
    const before = cluster.calls.length;
    await client.set(keyOf(cluster, 0), "b");
    const sets = cluster.calls.slice(before).filter((c) => c.method === "set");
    expect(sets.map((c) => c.nodeId)).toEqual([to]);
    expect(events.some((e) => e.type === "topologyRefreshed" && e.source.startsWith("watch:"))).toBe(true);
    await client.close();
    await expect.poll(() => open(cluster)).toBe(0);
  });

  it("opens the stream again on another node when its node goes down", async () => {
    const { client, cluster } = setupClient({ watchTopology: true });
    await warm(client);
    await client.get("x");
    await expect.poll(() => open(cluster)).toBe(1);
    const first = [...cluster.watching].find(([, n]) => n > 0)![0];
    cluster.down.add(first);
    cluster.setLeader(1, cluster.leaderOf(1)); // wakes the stream, which finds its node down
    await expect.poll(() => [...cluster.watching].some(([id, n]) => id !== first && n > 0)).toBe(true);
    await client.close();
  });

  it("is off when asked: no stream is opened", async () => {
    const { client, cluster } = setupClient({ watchTopology: false });
    await client.set("k", "v");
    expect(cluster.calls.some((c) => c.method === "watchTopology")).toBe(false);
    await client.close();
  });
});

describe("refresh on a newer epoch", () => {
  it("fetches the topology again when a NotLeader answer names an epoch the client has not seen", async () => {
    const { client, cluster } = setupClient();
    await client.set(keyOf(cluster, 2), "a");
    const to = cluster.nodeIds.find((id) => id !== cluster.leaderOf(2))!;
    cluster.setLeader(2, to);
    cluster.epoch = 2n;
    const before = cluster.topologyCalls;
    await client.set(keyOf(cluster, 2), "b");
    await expect.poll(() => cluster.topologyCalls).toBeGreaterThan(before);
    await client.close();
  });

  it("does not fetch it again for a NotLeader answer at the epoch it knows", async () => {
    const { client, cluster } = setupClient();
    await client.set(keyOf(cluster, 2), "a");
    cluster.setLeader(
      2,
      cluster.nodeIds.find((id) => id !== cluster.leaderOf(2))!,
    );
    const before = cluster.topologyCalls;
    await client.set(keyOf(cluster, 2), "b");
    await new Promise((r) => setTimeout(r, 20));
    expect(cluster.topologyCalls).toBe(before);
    await client.close();
  });
});
