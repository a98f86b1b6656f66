import { describe, expect, it } from "vitest";
import { isDiallable, withDiallableAddresses, type Topology } from "./topology.js";

const topology = (addresses: string[]): Topology => ({
  epoch: 1n,
  shardCount: 1,
  pointsPerShard: 16,
  nodes: addresses.map((address, i) => ({ id: `n${i + 1}`, address, peerAddress: `10.0.1.${i + 1}:7401` })),
  shards: [],
});

describe("reported addresses", () => {
  it.each([
    ["127.0.0.1:7301", true],
    ["cache-1.internal:7301", true],
    ["[::1]:7301", true],
    ["127.0.0.1:0", false],
    ["0.0.0.0:7301", false],
    ["[::]:7301", false],
    ["127.0.0.1", false],
    ["", false],
  ])("%s diallable: %s", (address, expected) => {
    expect(isDiallable(address)).toBe(expected);
  });

  it("a lone node that reports port 0 gets the address that answered", () => {
    expect(withDiallableAddresses(topology(["127.0.0.1:0"]), "127.0.0.1:40123").nodes).toEqual([
      { id: "n1", address: "127.0.0.1:40123", peerAddress: "10.0.1.1:7401" },
    ]);
  });

  it("in a cluster, an address that cannot be dialled is dropped", () => {
    expect(withDiallableAddresses(topology(["0.0.0.0:7301", "10.0.0.2:7301"]), "10.0.0.2:7301").nodes).toEqual([
      { id: "n1", address: "", peerAddress: "10.0.1.1:7401" },
      { id: "n2", address: "10.0.0.2:7301", peerAddress: "10.0.1.2:7401" },
    ]);
  });
});
