import { create } from "@bufbuild/protobuf";
import { SetOpSchema } from "@distcache/proto/raft";
import { asNodeId } from "@distcache/raft";
import { MemoryWalFs } from "@distcache/raft/testing";
import { SnapshotFiles } from "@distcache/raft/snapshot";
import type { StoreOptions } from "@distcache/store";
import pino from "pino";
import { systemClock, type Clock } from "../clock.js";
import type { StoreSettings } from "../../state-machine/store-settings.js";
import { isAccessSamplesFrame } from "../../peer/wire/access-samples-wire.js";
import { MemoryGroupLog } from "./memory-group-log.js";
import { metaGroupOf } from "../group-log.js";
import { MultiRaft, type MultiRaftOptions } from "../multi-raft.js";
import { decodePeerBatch, encodePeerBatch, type GroupMessage } from "../../peer/wire/peer-wire.js";
import { isSnapshotFrame } from "../../peer/wire/snapshot-wire.js";

/*
 * MultiRaft nodes for tests, in one process: the options every test node shares, a
 * cluster of them joined by an in-memory network, and waits on what they do.
 */

/** What every test node is given, unless the test says otherwise. */
type NodeDefaults =
  "snapshotFiles" | "clock" | "logger" | "store" | "raftTickMs" | "electionTimeoutTicks" | "heartbeatIntervalTicks" | "operationTimeoutMs" | "entryBytesMax";

/**
 * Options for a test node: snapshot files in memory, the real clock, a silent logger, a
 * store of 1000 entries and 1 MiB, 10 ms ticks with an election timeout of 10 ticks and a
 * heartbeat every tick, a 2 s operation timeout and entries of up to 1 MiB.
 */
export function testNodeOptions(options: Omit<MultiRaftOptions, NodeDefaults> & Partial<Pick<MultiRaftOptions, NodeDefaults>>): MultiRaftOptions {
  return {
    snapshotFiles: new SnapshotFiles(`/${options.nodeId}/snap`, new MemoryWalFs()),
    clock: systemClock,
    logger: pino({ level: "silent" }),
    store: { entriesMax: 1000, bytesMax: 1 << 20 },
    raftTickMs: 10,
    electionTimeoutTicks: 10,
    heartbeatIntervalTicks: 1,
    operationTimeoutMs: 2000,
    entryBytesMax: 1 << 20,
    ...options,
  };
}

/** Sees every message batch on the in-memory network and returns what to deliver (empty: nothing). */
export type BatchFilter = (from: string, to: string, messages: GroupMessage[]) => GroupMessage[];

export interface TestClusterOptions {
  /** The nodes, each a voter of every shard. */
  ids: readonly string[];
  /**
   * More nodes of the cluster, each holding a replica of every shard that is no member of
   * its group (the groups' bootstrap voters are `ids`) until a membership change adds it.
   */
  spares?: readonly string[];
  /** Whether spares hold a replica of every shard from the start (the default) or of none (they create one with addGroup). */
  sparesHost?: "every shard" | "none";
  shards: number;
  /** Applied entries between snapshots of a shard; by default so many that none is made. */
  snapshotEntries?: number;
  store?: Partial<StoreOptions>;
  /** Per shard, the node that campaigns at start. */
  preferredLeaders?: readonly string[];
  /** Per node, the store settings it proposes as a new group's first leader. */
  seeds?: Readonly<Record<string, StoreSettings>>;
  /** Rewrites (or drops) the Raft message batches on the network; snapshot and access-sample frames pass untouched. */
  filter?: BatchFilter;
  /** Per link, how long its frames take, in order (none by default: delivered on the next turn). */
  delayMs?: (from: string, to: string) => number;
  /** How long a proposal or read may wait (testNodeOptions' default otherwise). */
  operationTimeoutMs?: number;
  /** Entry bytes between snapshots of a shard (the node's default otherwise). */
  snapshotBytes?: number;
  /** Per node, its clocks (the system's otherwise). */
  clocks?: Readonly<Record<string, Clock>>;
  /** How far a strong read's stamp may trail cluster time (the node's default otherwise). */
  readStampLagMsMax?: number;
  /** Whether `ids` also hold the meta group (group `shards`, metaGroupOf); not by default. */
  metaGroup?: boolean;
}

/** Nodes opened by openTestCluster and not yet closed by it. */
const opened: MultiRaft[] = [];

/** Closes every node openTestCluster opened, for a test's teardown. */
export async function closeTestClusters(): Promise<void> {
  await Promise.all(opened.splice(0).map((n) => n.close()));
}

/**
 * Opens and starts a node per id, joined by an in-memory network that can cut links. A
 * fatal error of any node is recorded in fatal, then thrown. closeTestClusters closes
 * the nodes.
 */
/** The groups test node `id` holds at start: every shard's (none for a spare with sparesHost "none"), and the meta group if asked. */
function hostedGroups(options: TestClusterOptions, id: string) {
  const { ids, shards, spares = [] } = options;
  return [
    ...(spares.includes(id) && options.sparesHost === "none" ? [] : Array.from({ length: shards }, (_, shard) => ({ shard, voters: ids }))),
    ...(options.metaGroup && ids.includes(id) ? [{ shard: metaGroupOf(shards), voters: ids }] : []),
  ];
}

export async function openTestCluster(options: TestClusterOptions) {
  const { ids, shards, snapshotEntries = 1_000_000, filter, spares = [] } = options;
  const nodes = new Map<string, MultiRaft>();
  const cut = new Set<string>();
  const groupLogs = new Map<string, MemoryGroupLog>();
  const fatal: unknown[] = [];
  const open = async (id: string, incarnation: Uint8Array | undefined, seed: StoreSettings | undefined) => {
    const groupLog = groupLogs.get(id) ?? new MemoryGroupLog();
    groupLogs.set(id, groupLog);
    const node = await MultiRaft.open(
      testNodeOptions({
        nodeId: id,
        hostedShards: hostedGroups(options, id),
        clusterNodes: [...ids, ...spares],
        shardCount: shards,
        preferredLeaders: options.preferredLeaders,
        groupLog,
        snapshotEntries,
        incarnation,
        transport: {
          send: (to, payload) => {
            if (cut.has(`${id}>${to}`)) return false;
            let frame = payload;
            if (filter && !isSnapshotFrame(payload) && !isAccessSamplesFrame(payload)) {
              const kept = filter(id, to, decodePeerBatch(payload, asNodeId(id), asNodeId(to)));
              if (kept.length === 0) return true;
              frame = encodePeerBatch(kept);
            }
            const delayMs = options.delayMs?.(id, to) ?? 0;
            if (delayMs > 0) setTimeout(() => nodes.get(to)?.receive(id, frame), delayMs);
            else setImmediate(() => nodes.get(to)?.receive(id, frame));
            return true;
          },
          backlogBytes: () => 0,
        },
        ...(options.store ? { store: options.store } : {}),
        ...(options.operationTimeoutMs ? { operationTimeoutMs: options.operationTimeoutMs } : {}),
        ...(options.snapshotBytes ? { snapshotBytes: options.snapshotBytes } : {}),
        ...(options.clocks?.[id] ? { clock: options.clocks[id] } : {}),
        ...(options.readStampLagMsMax ? { readStampLagMsMax: options.readStampLagMsMax } : {}),
        seed,
        onFatal: (err) => {
          fatal.push(err);
          throw err;
        },
      }),
    );
    nodes.set(id, node);
    opened.push(node);
    return node;
  };
  for (const id of [...ids, ...spares]) await open(id, undefined, options.seeds?.[id]);
  for (const node of nodes.values()) node.start();
  const isolate = (id: string) => {
    for (const other of [...ids, ...spares]) if (other !== id) cut.add(`${id}>${other}`).add(`${other}>${id}`);
  };
  /**
   * Stops a node and starts it again on the same log, as a new incarnation when one is
   * given, and with another seed when one is given (its first one otherwise).
   */
  const restart = async (id: string, changes: { incarnation?: Uint8Array; seed?: StoreSettings } = {}) => {
    const old = nodes.get(id)!;
    opened.splice(opened.indexOf(old), 1);
    await old.close();
    const node = await open(id, changes.incarnation, changes.seed ?? options.seeds?.[id]);
    node.start();
    return node;
  };
  return { nodes, isolate, heal: () => cut.clear(), groupLogs, fatal, restart };
}

/** The one node (other than exclude) that leads shard, once there is exactly one; throws after 5 s. */
export async function leaderOf(nodes: ReadonlyMap<string, MultiRaft>, shard: number, exclude?: string): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const leaders = [...nodes].filter(([id, n]) => id !== exclude && n.ledShards().includes(shard)).map(([id]) => id);
    if (leaders.length === 1) return leaders[0]!;
    if (Date.now() > deadline) throw new Error(`no single leader for shard ${shard}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves once check() holds, testing it every pollMs; throws, naming what, after 5 s. */
export async function until(check: () => boolean, what: string, pollMs = 10): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached in time`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** A set command: text is stored as text, bytes as they are. */
export const setOp = (key: string, value: string | Uint8Array) => ({
  case: "set" as const,
  value:
    typeof value === "string"
      ? create(SetOpSchema, { key, value: new TextEncoder().encode(value), text: true })
      : create(SetOpSchema, { key, value, text: false }),
});
