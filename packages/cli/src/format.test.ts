import type { ClusterStats, GetResult, Topology } from "@distcache/client";
import { UnavailableError } from "@distcache/client";
import { describe, expect, it } from "vitest";
import {
  displayValue,
  formatCounter,
  formatDeleted,
  formatError,
  formatGet,
  formatMget,
  formatStats,
  formatTopology,
  formatVersion,
  jsonLine,
} from "./format.js";

const text = (t: string, version = 3n): GetResult => ({ value: new TextEncoder().encode(t), text: t, version, ttlRemainingMs: 0 });
const bytes = (b: number[], ttlRemainingMs = 0): GetResult => ({ value: new Uint8Array(b), version: 9n, ttlRemainingMs });

describe("plain and JSON output", () => {
  it.each([
    ["text", text("héllo"), "héllo"],
    ["UTF-8 bytes", bytes([104, 105]), "hi"],
    ["binary bytes", bytes([0xff, 0x00, 0xfe]), "base64:/wD+"],
    ["empty text", text(""), ""],
  ])("displays %s", (_, result, expected) => {
    expect(displayValue(result)).toBe(expected);
  });

  it.each([
    [formatGet("k", text("v"), false), "v\n"],
    [formatGet("k", text("v"), true), '{"key":"k","found":true,"text":"v","version":"3","ttlRemainingMs":0}\n'],
    [formatGet("k", bytes([0xff], 1500), true), '{"key":"k","found":true,"value":"/w==","version":"9","ttlRemainingMs":1500}\n'],
    [formatGet("k", null, false), ""],
    [formatGet("k", null, true), '{"key":"k","found":false}\n'],
    [formatVersion("k", 12n, false), "12\n"],
    [formatVersion("k", 12n, true), '{"key":"k","version":"12"}\n'],
    [formatDeleted(2, false), "2\n"],
    [formatDeleted(2, true), '{"deleted":2}\n'],
    [formatCounter("c", -(2n ** 63n), false), "-9223372036854775808\n"],
    [formatCounter("c", 2n ** 63n - 1n, true), '{"key":"c","value":"9223372036854775807"}\n'],
    [formatMget(["a", "b"], [text("1"), null], false), "a\t1\nb\t(not found)\n"],
    [
      formatMget(["a", "b"], [text("1"), null], true),
      '{"results":[{"key":"a","found":true,"text":"1","version":"3","ttlRemainingMs":0},{"key":"b","found":false}]}\n',
    ],
    [formatError(new UnavailableError("no node answered")), "error: no node answered (UnavailableError)\n"],
    [jsonLine({ big: 1n, bytes: new Uint8Array([1, 2]) }), '{"big":"1","bytes":"AQI="}\n'],
  ])("%#: %j", (actual, expected) => {
    expect(actual).toBe(expected);
  });

  const stats: ClusterStats = {
    nodes: [
      {
        nodeId: "n1",
        address: "127.0.0.1:7301",
        total: { hits: 5, misses: 1, evictions: 0, expirations: 2, keys: 3, bytes: 300 },
        shards: [
          {
            shard: 0,
            store: { hits: 5, misses: 1, evictions: 0, expirations: 2, keys: 3, bytes: 300 },
            appliedIndex: 7n,
            term: 2n,
            leaderId: "n1",
            evictionPolicy: "lru",
            entriesMax: 100,
            bytesMax: 65536,
            digest: "d",
          },
        ],
      },
    ],
    unreachable: [{ nodeId: "n2", address: "127.0.0.1:7302", error: new UnavailableError("connect ECONNREFUSED") }],
  };

  it("formats stats", () => {
    expect(formatStats(stats, false)).toBe(
      "n1\t127.0.0.1:7301\tkeys=3 bytes=300 hits=5 misses=1 evictions=0 expirations=2\tshards=1\nn2\t127.0.0.1:7302\tunreachable: connect ECONNREFUSED\n",
    );
    const json = JSON.parse(formatStats(stats, true)) as { nodes: { shards: { appliedIndex: string }[] }[]; unreachable: unknown[] };
    expect(json.nodes[0]!.shards[0]!.appliedIndex).toBe("7");
    expect(json.unreachable).toEqual([{ nodeId: "n2", address: "127.0.0.1:7302", error: "connect ECONNREFUSED" }]);
  });

  it("formats the topology", () => {
    const topology: Topology = {
      epoch: 1n,
      shardCount: 2,
      pointsPerShard: 2048,
      nodes: [{ id: "n1", address: "127.0.0.1:7301", peerAddress: "127.0.0.1:7401" }],
      shards: [
        { id: 0, leaderId: "n1", replicas: ["n1"], learners: [], term: 1n },
        { id: 1, leaderId: null, replicas: ["n1"], learners: ["n2"], term: 4n },
      ],
    };
    expect(formatTopology(topology, false)).toBe(
      "epoch 1, 2 shards, 2048 points per shard\nnodes:\n  n1\t127.0.0.1:7301\n" +
        "shards:\n  0\tleader=n1\tterm=1\treplicas=n1\n  1\tleader=(none)\tterm=4\treplicas=n1\n",
    );
    // The document scripts read keeps its fields: peer addresses and learners are cluster status's.
    expect(formatTopology(topology, true)).toBe(
      '{"epoch":"1","shardCount":2,"pointsPerShard":2048,"nodes":[{"id":"n1","address":"127.0.0.1:7301"}],' +
        '"shards":[{"id":0,"leaderId":"n1","replicas":["n1"],"term":"1"},{"id":1,"leaderId":null,"replicas":["n1"],"term":"4"}]}\n',
    );
  });
});
