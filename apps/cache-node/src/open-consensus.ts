import { join } from "node:path";
import type { Logger } from "pino";
import { placeShards, type ClusterMember } from "./config/cluster-config.js";
import type { NodeConfig } from "./config/config.js";
import type { ConsensusPort } from "./consensus/consensus-port.js";
import { PeerTransport, type PeerTransportOptions } from "./peer/peer-transport.js";
import type { PeerFaultHook } from "./peer/peer-faults.js";
import { SnapshotFiles } from "@distcache/raft/snapshot";
import type { CrashReport } from "@distcache/raft/testing";
import { MultiRaft } from "./consensus/multi-raft.js";
import { openWalGroupLog } from "./consensus/wal-group-log.js";
import { openRemovedGroups, type RemovedGroups } from "./consensus/removed-groups.js";
import { groupOfShard, isClusterGroup, metaGroupOf, type GroupLog, type HostedShard } from "./consensus/group-log.js";
import { openDataDirIdentity } from "./config/data-dir-identity.js";
import type { Clock } from "./consensus/clock.js";
import { BOOTSTRAP_STORE_SETTINGS, flagSettings } from "./state-machine/store-settings.js";
import { DEFAULT_POINTS_PER_SHARD } from "@distcache/ring";
import { bootstrapCommand, initialMetaVoters } from "./placement/meta-group.js";
import { MetaStore } from "./placement/meta-store.js";
import { MetaDriver } from "./placement/meta-driver.js";

/** How often the meta group's leader looks whether the cluster's document needs its work. */
const META_ROUND_MS = 500;

/** The consensus side of a node, with its lifecycle. */
export interface OpenConsensus {
  consensus: ConsensusPort;
  members: ClusterMember[];
  /** The meta document, through this node's replica of the meta group (if it holds one). */
  meta: MetaStore;
  /** Starts peer traffic and elections. */
  start(): Promise<void>;
  /** Hands this node's leaderships to other replicas (before a planned stop). */
  handOff(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
  /** Counters of the multi-Raft driver, for metrics. */
  driverStats: () => Record<string, number>;
  /** Under --testing-storage lossy: cuts every log and snapshot file to what it synced (the node must exit right after). */
  crashStorage: ((torn: boolean) => CrashReport) | undefined;
}

/** Members of the cluster; a node without --initial-cluster is a cluster of one. */
export function clusterMembers(config: NodeConfig, clientPort: number): ClusterMember[] {
  if (config.initialCluster.length > 0) return config.initialCluster;
  return [{ id: config.nodeId, clientAddress: `${config.host}:${clientPort}`, peerAddress: `${config.peerHost}:${config.peerPort}` }];
}

/**
 * Opens the node's write-ahead log and the Raft groups of its shards. A standalone node
 * is a cluster of one: the same Raft groups and log, with no peers to talk to.
 */
export async function openConsensus(
  config: NodeConfig,
  logger: Logger,
  clock: Clock,
  onFatal: (err: unknown) => void,
  onAccessSamples?: (shard: number, keys: readonly string[]) => void,
  peerFaults?: PeerFaultHook,
): Promise<OpenConsensus> {
  const members = clusterMembers(config, config.port);
  const { replicas, placement, groups, placedHere } = initialGroups(config, members);
  // The data dir's identity first: with other members, shards or replicas, other groups would open.
  const identityInputs = { nodeId: config.nodeId, members: members.map((m) => m.id), shards: config.shards, replicas, replicasDefaulted: !config.replicas };
  const identity = await openDataDirIdentity(config.dataDir, { ...identityInputs, secret: config.peerSecret }, logger);
  // Test-only: the lossy file system is loaded only when asked for, never in a production node.
  const lossyFs = config.testing?.storage === "lossy" ? new (await import("@distcache/raft/testing")).LossyNodeWalFs() : undefined;
  // The shards placement gives this node, less those whose replicas left it since (tombstones),
  // and those whose replicas it was given since (their groups are in its log).
  const removedGroups = await openRemovedGroups(config.dataDir);
  const placed = placedHere.filter((hosted) => !removedGroups.has(groupOfShard(hosted.shard)));
  const groupLog = await openWalGroupLog(join(config.dataDir, "wal"), logger, lossyFs && { fs: lossyFs }, placed);
  const hostedShards = [...placed, ...laterGroups(groupLog, placedHere, config.shards, removedGroups)];
  // Messages arrive only after start(), by which time raft is initialised.
  const transport = openPeerTransport(config, members, identity.clusterId, logger, peerFaults, (from, payload) => raft.receive(from, payload));
  const raft: MultiRaft = await MultiRaft.open({
    nodeId: config.nodeId,
    hostedShards,
    removedGroups,
    clusterNodes: members.map((m) => m.id),
    shardCount: config.shards,
    preferredLeaders: groups.map((voters) => voters[0]!),
    groupLog,
    snapshotFiles: new SnapshotFiles(join(config.dataDir, "snap"), lossyFs),
    transport,
    clock,
    logger,
    ...driverSettings(config),
    onFatal,
    onAccessSamples,
    bugs: config.testing?.bugs,
  });
  const meta = new MetaStore(raft, metaGroupOf(config.shards));
  const metaDriver = new MetaDriver({
    nodeId: config.nodeId,
    meta,
    bootstrap: bootstrapCommand(members, placement, DEFAULT_POINTS_PER_SHARD),
    intervalMs: META_ROUND_MS,
    logger,
  });
  return {
    consensus: raft,
    members,
    meta,
    start: async () => {
      if (members.length > 1) {
        const port = await transport.listen(config.peerPort, config.peerHost);
        logger.info({ peerAddress: `${config.peerHost}:${port}`, shards: hostedShards.map((hosted) => hosted.shard) }, "peer transport listening");
      }
      raft.start();
      const started = performance.now();
      await raft.recovered();
      logger.info({ replayMs: Math.round(performance.now() - started) }, "committed log applied");
      metaDriver.start();
    },
    handOff: (timeoutMs) => raft.handOffLeadership(timeoutMs),
    driverStats: () => ({ ...raft.stats, ...prefixed("snapshots", raft.snapshots.stats) }),
    crashStorage: lossyFs && ((torn) => lossyFs.crash({ torn, random: Math.random })),
    close: async () => {
      metaDriver.stop();
      await raft.close();
      await transport.close();
    },
  };
}

/** The multi-Raft driver's settings that come from the node's flags. */
function driverSettings(config: NodeConfig) {
  return {
    snapshotEntries: config.snapshotEntries,
    snapshotBytes: config.snapshotBytes,
    // Store settings are replicated state (invariant 10 of docs/design.md): every replica starts from
    // the same fixed settings and takes the group's from its snapshot and log. The flags
    // only seed a new group, through the log, when this node is its first leader.
    store: BOOTSTRAP_STORE_SETTINGS,
    seed: flagSettings(config),
    raftTickMs: config.raftTickMs,
    electionTimeoutTicks: config.electionTicks,
    heartbeatIntervalTicks: 1,
    operationTimeoutMs: config.operationTimeoutMs,
    readStampLagMsMax: config.readStampLagMsMax,
    entryBytesMax: commandBytesMax(config),
  };
}

/**
 * The groups of a cluster that starts from --initial-cluster: each shard's, placed over
 * the members in their order, and the meta group beside them, on the first members
 * (placement/meta-group.ts); and those this node holds a replica of.
 */
function initialGroups(config: NodeConfig, members: readonly ClusterMember[]) {
  const replicas = config.replicas || Math.min(3, members.length);
  const placement = placeShards(members, config.shards, replicas);
  const groups = [...placement, initialMetaVoters(members.map((m) => m.id))];
  const placedHere: HostedShard[] = groups.map((voters, shard) => ({ shard, voters })).filter((hosted) => hosted.voters.includes(config.nodeId));
  return { replicas, placement, groups, placedHere };
}

/** The peer transport, with the test-only fault hook under --testing-control. */
function openPeerTransport(
  config: NodeConfig,
  members: readonly ClusterMember[],
  clusterId: string,
  logger: Logger,
  faults: PeerFaultHook | undefined,
  onMessage: PeerTransportOptions["onMessage"],
): PeerTransport {
  return new PeerTransport({
    nodeId: config.nodeId,
    secret: config.peerSecret,
    clusterId,
    peers: new Map(members.filter((m) => m.id !== config.nodeId).map((m) => [m.id, config.peerDial.get(m.id) ?? m.peerAddress])),
    onMessage,
    logger,
    faults,
  });
}

function prefixed(prefix: string, stats: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(stats).map(([k, v]) => [`${prefix}${k[0]!.toUpperCase()}${k.slice(1)}`, v]));
}

/** Framing a command adds per batch item (tags, lengths, TTL, condition) and per command (stamp, session). */
const COMMAND_ITEM_FRAMING_BYTES = 64;
const COMMAND_FRAMING_BYTES = 1024;

/**
 * The largest command a request this node accepts can become: a request body is at most
 * requestBytesMax, and re-encoding its items as a command adds bounded framing. Raft
 * drops larger proposals, so this bound is what lets a value of value_bytes_max through.
 */
export function commandBytesMax(config: Pick<NodeConfig, "limits">): number {
  return config.limits.requestBytesMax + config.limits.batchKeysMax * COMMAND_ITEM_FRAMING_BYTES + COMMAND_FRAMING_BYTES;
}

/**
 * Groups in the log beyond the placed ones (replicas created at run time, addGroup), with
 * their recorded bootstrap voters; none that left this node since (a tombstone).
 */
function laterGroups(groupLog: GroupLog, placed: readonly HostedShard[], shards: number, removed: RemovedGroups): HostedShard[] {
  const known = new Set(placed.map((hosted) => groupOfShard(hosted.shard)));
  return groupLog
    .groups()
    .filter(({ group, voters }) => !known.has(group) && !removed.has(group) && isClusterGroup(group, shards) && voters.length > 0)
    .map(({ group, voters }) => ({ shard: group, voters }));
}
