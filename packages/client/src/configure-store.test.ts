import { EvictionPolicy } from "@distcache/proto";
import { describe, expect, it } from "vitest";
import { createCacheClient } from "./cache-client.js";
import { FakeCluster, fakeTime } from "./testing/fake-cluster.js";

function setup() {
  const cluster = new FakeCluster();
  const time = fakeTime();
  const client = createCacheClient({
    transport: cluster.transport,
    seeds: [cluster.urlOf("n1")],
    clock: time.clock,
    sleep: time.sleep,
    random: () => 0.5,
    sessionId: "s-test",
  });
  return { cluster, client };
}

describe("configureStore", () => {
  it("sends the change once and returns each shard's settings in force", async () => {
    const { cluster, client } = setup();
    const settings = await client.configureStore({ policy: "fifo", entriesMax: 50 });
    expect(settings).toHaveLength(cluster.shardCount);
    expect(settings[0]).toEqual({ shard: 0, policy: "fifo", entriesMax: 50, bytesMax: 1 << 20 });
    expect(cluster.callsTo("configureStore")).toHaveLength(1);
    expect(await client.configureStore({ shards: [2], bytesMax: 10_000n })).toEqual([{ shard: 2, policy: "fifo", entriesMax: 50, bytesMax: 10_000 }]);
    expect(cluster.storeSettings.get(2)).toEqual({ policy: EvictionPolicy.FIFO, entriesMax: 50n, bytesMax: 10_000n });
  });

  it("refuses bad settings before sending anything", async () => {
    const { cluster, client } = setup();
    const refusals: [unknown, RegExp][] = [
      [{ policy: "mru" }, /policy must be one of lru, lfu, fifo, random/],
      [{ entriesMax: 0 }, /entriesMax must be an integer in \[1, /],
      [{ entriesMax: 1.5 }, /entriesMax must be an integer/],
      [{ bytesMax: 2n ** 53n }, /bytesMax must be an integer in \[1, 9007199254740991\]/],
      [{ shards: [-1] }, /shard must be an integer/],
      [{ shards: "0" }, /shards must be an array/],
    ];
    for (const [change, message] of refusals) {
      await expect(client.configureStore(change as never)).rejects.toMatchObject({ name: "InvalidArgumentError", message: expect.stringMatching(message) });
    }
    expect(cluster.callsTo("configureStore")).toHaveLength(0);
  });

  it("maps the node's refusal to InvalidArgumentError", async () => {
    const { client } = setup();
    await expect(client.configureStore({ bytesMax: 100 })).rejects.toMatchObject({
      name: "InvalidArgumentError",
      message: expect.stringMatching(/bytes_max must be at least 4096/),
    });
    await expect(client.configureStore({ shards: [99] })).rejects.toMatchObject({
      name: "InvalidArgumentError",
      message: expect.stringMatching(/unknown shard 99/),
    });
  });
});
