import { create } from "@bufbuild/protobuf";
import { SetOpSchema } from "@distcache/proto/raft";
import { MemoryWalFs, SnapshotFiles } from "@distcache/raft";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { BOOTSTRAP_STORE_SETTINGS, type StoreSettings } from "../store-settings.js";
import { MemoryGroupLog } from "./group-log.js";
import { MultiRaft } from "./multi-raft.js";

/*
 * Store settings are replicated (DESIGN invariant 10): replicas start from the bootstrap
 * settings, a new group's first leader proposes its own seed as the group's first
 * command, and no later leader (a restarted node included) seeds again.
 */

const ids = ["n1", "n2", "n3"];
const SHARDS = 3;
const running: MultiRaft[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((n) => n.close()));
});

const seeds: Record<string, StoreSettings> = {
  n1: { policy: "lfu", entriesMax: 11, bytesMax: 1_100_000 },
  n2: { policy: "fifo", entriesMax: 22, bytesMax: 2_200_000 },
  n3: { policy: "random", entriesMax: 33, bytesMax: 3_300_000 },
};

async function cluster() {
  const nodes = new Map<string, MultiRaft>();
  const logs = new Map<string, MemoryGroupLog>();
  const open = async (id: string, seed: StoreSettings) => {
    const log = logs.get(id) ?? new MemoryGroupLog();
    logs.set(id, log);
    const node = await MultiRaft.open({
      nodeId: id,
      groups: Array.from({ length: SHARDS }, (_, shard) => ({ shard, voters: ids })),
      shardCount: SHARDS,
      preferredLeaders: Array.from({ length: SHARDS }, (_, shard) => ids[shard % ids.length]!),
      log,
      snapshotFiles: new SnapshotFiles(`/${id}/snap`, new MemoryWalFs()),
      snapshotEntries: 1_000_000,
      transport: {
        send: (to, payload) => {
          setImmediate(() => nodes.get(to)?.receive(id, payload));
          return true;
        },
        backlogBytes: () => 0,
      },
      clock: { nowMs: () => Date.now() },
      logger: pino({ level: "silent" }),
      store: BOOTSTRAP_STORE_SETTINGS,
      seed,
      tickIntervalMs: 10,
      electionTimeoutTicks: 10,
      heartbeatIntervalTicks: 1,
      operationTimeoutMs: 2000,
      entryBytesMax: 1 << 20,
      onFatal: (err) => {
        throw err;
      },
    });
    nodes.set(id, node);
    running.push(node);
    return node;
  };
  for (const id of ids) await open(id, seeds[id]!);
  for (const node of nodes.values()) node.start();
  const restart = async (id: string, seed: StoreSettings) => {
    const old = nodes.get(id)!;
    running.splice(running.indexOf(old), 1);
    await old.close();
    const node = await open(id, seed);
    node.start();
    await node.recovered();
    return node;
  };
  return { nodes, restart };
}

const settingsOf = (node: MultiRaft, shard: number): StoreSettings => {
  const { policy, entriesMax, bytesMax } = node.replica(shard).store.options;
  return { policy, entriesMax, bytesMax };
};

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function leaderOf(nodes: Map<string, MultiRaft>, shard: number): Promise<string> {
  let leader: string | undefined;
  await until(() => {
    const leaders = [...nodes].filter(([, n]) => n.ledShards().includes(shard)).map(([id]) => id);
    leader = leaders.length === 1 ? leaders[0] : undefined;
    return leader !== undefined;
  }, `a leader of shard ${shard}`);
  return leader!;
}

const setOp = (key: string) => ({ case: "set" as const, value: create(SetOpSchema, { key, value: new Uint8Array(10), text: false }) });

describe("store settings seeded through the log", () => {
  it("gives every replica of a new group its first leader's seed, applied before any write that leader proposes", async () => {
    const { nodes } = await cluster();
    for (let shard = 0; shard < SHARDS; shard++) {
      const leader = await leaderOf(nodes, shard);
      // A write proposed at once after the election: the seed precedes it.
      await nodes.get(leader)!.propose(shard, setOp(`k${shard}`));
      const seed = settingsOf(nodes.get(leader)!, shard);
      expect(Object.values(seeds)).toContainEqual(seed);
      await until(() => [...nodes.values()].every((n) => n.replica(shard).appliedIndex === nodes.get(leader)!.replica(shard).appliedIndex), "replicas to catch up");
      const digests = new Set([...nodes.values()].map((n) => n.replica(shard).digest()));
      expect(digests.size).toBe(1);
      for (const node of nodes.values()) expect(settingsOf(node, shard)).toEqual(seed);
    }
  });

  it("does not seed again when a restarted node with other flags leads", async () => {
    const { nodes, restart } = await cluster();
    const leader = await leaderOf(nodes, 0);
    await nodes.get(leader)!.propose(0, setOp("k"));
    const before = settingsOf(nodes.get(leader)!, 0);
    const other = ids.find((id) => id !== leader)!;
    await until(() => nodes.get(other)!.replica(0).lastStampMs > 0, "the follower to apply the seed");
    const restarted = await restart(other, { policy: "lru", entriesMax: 99, bytesMax: 9_900_000 });
    expect(settingsOf(restarted, 0)).toEqual(before);
    await until(() => restarted.status(0).leaderId !== "", "the restarted node to know a leader");
    await nodes.get(leader)!.transferLeadership(0, other, 4000);
    await restarted.propose(0, setOp("k2"));
    for (const node of nodes.values()) await until(() => node.replica(0).appliedIndex === restarted.replica(0).appliedIndex, "replicas to catch up");
    for (const node of nodes.values()) expect(settingsOf(node, 0)).toEqual(before);
  });
});
