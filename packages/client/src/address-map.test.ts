import { describe, expect, it } from "vitest";
import { resolveOptions } from "./client-options.js";
import { FakeCluster } from "./testing/fake-cluster.js";
import { setupClient } from "./testing/setup-client.js";

/**
 * The fake cluster advertises 10.0.0.N:7301. The client reaches node N only as
 * 127.0.0.1:900N (a proxy, port forwarding), and its transport refuses anything else.
 */
function behindProxies(cluster: FakeCluster): { dialled: string[]; transport: typeof cluster.transport; proxyOf: (nodeId: string) => string } {
  const proxyOf = (nodeId: string) => `127.0.0.1:${9001 + cluster.nodeIds.indexOf(nodeId)}`;
  const dialled: string[] = [];
  const transport = (baseUrl: string) => {
    const host = new URL(baseUrl).host;
    dialled.push(host);
    const nodeId = cluster.nodeIds.find((id) => proxyOf(id) === host);
    if (!nodeId) throw new Error(`${host} is not reachable from this client`);
    return cluster.transport(cluster.urlOf(nodeId));
  };
  return { dialled, transport, proxyOf };
}

describe("the address map", () => {
  it("dials every advertised address through the map, from the topology and from NotLeader answers", async () => {
    const cluster = new FakeCluster();
    const { dialled, transport, proxyOf } = behindProxies(cluster);
    const addressMap = Object.fromEntries(cluster.nodeIds.map((id) => [cluster.addressOf(id), proxyOf(id)]));
    const { client } = setupClient({ transport, seeds: [`http://${proxyOf("n1")}`], addressMap }, cluster);
    for (let shard = 0; shard < cluster.shardCount; shard++) await client.set(cluster.keyForShard(shard), "v");
    // A leader moves: the old one names the new one's advertised address, which is mapped too.
    const shard = 1;
    const next = cluster.nodeIds.find((id) => id !== cluster.leaderOf(shard))!;
    cluster.setLeader(shard, next);
    await client.set(cluster.keyForShard(shard), "after the move");
    expect(cluster.callsTo("set").at(-1)!.nodeId).toBe(next);
    expect(new Set(dialled)).toEqual(new Set(cluster.nodeIds.map(proxyOf)));
  });

  it("takes a function, called with each advertised address", async () => {
    const cluster = new FakeCluster();
    const { transport, proxyOf } = behindProxies(cluster);
    const seen: string[] = [];
    const { client } = setupClient(
      {
        transport,
        seeds: [`http://${proxyOf("n1")}`],
        addressMap: (address) => {
          seen.push(address);
          const nodeId = cluster.nodeIds.find((id) => cluster.addressOf(id) === address);
          return nodeId ? proxyOf(nodeId) : address;
        },
      },
      cluster,
    );
    for (let shard = 0; shard < cluster.shardCount; shard++) await client.set(cluster.keyForShard(shard), "v");
    expect(new Set(seen)).toEqual(new Set(cluster.nodeIds.map((id) => cluster.addressOf(id))));
  });

  it("refuses a map whose keys or values are no host:port, naming them", () => {
    const base = { transport: new FakeCluster().transport, seeds: ["http://127.0.0.1:7301"] };
    expect(() => resolveOptions({ ...base, addressMap: { "10.0.0.1": "127.0.0.1:9001" } })).toThrow('addressMap key "10.0.0.1" is not host:port');
    expect(() => resolveOptions({ ...base, addressMap: { "10.0.0.1:7301": "http://127.0.0.1:9001" } })).toThrow(
      'addressMap value for 10.0.0.1:7301 is "http://127.0.0.1:9001": expected host:port',
    );
    expect(() => resolveOptions({ ...base, addressMap: { "[::1]:7301": "127.0.0.1:9001" } })).not.toThrow();
    const mapped = resolveOptions({ ...base, addressMap: () => "not an address" }).dialAddress;
    expect(() => mapped("10.0.0.1:7301")).toThrow('addressMap returned "not an address" for 10.0.0.1:7301: expected host:port');
  });
});
