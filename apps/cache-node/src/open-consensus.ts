import { join } from "node:path";
import type { Logger } from "pino";
import { placeShards, type ClusterMember } from "./config/cluster-config.js";
import type { NodeConfig } from "./config/config.js";
import { ConfigError } from "./config/config-error.js";
import type { ClusterEntry } from "./join-cluster.js";
import type { NodeBook } from "./placement/node-book.js";
import type { ConsensusPort } from "./consensus/consensus-port.js";
import { PeerTransport, type PeerTransportOptions } from "./peer/peer-transport.js";
import type { PeerFaultHook } from "./peer/peer-faults.js";
import { PeerForwarding } from "./routing/peer-forwarding.js";
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
import { PlacementDriver } from "./placement/placement-driver.js";
import { routedNodeGroups } from "./placement/routed-node-groups.js";
import type { LocalGroups, NodeGroups } from "./placement/node-groups.js";
import { ControlClient } from "./api/control-client.js";
import { controlToken, nodeAudience } from "./peer/control-token.js";

/** How often the meta group's leader looks whether the cluster's document needs its work. */
const META_ROUND_MS = 500;

/** How replica moves are paced: a learner's catch-up may take a large snapshot; any other step is one commit or transfer. */
const MOVE_OPTIONS = { catchUpTimeoutMs: 120_000, stepTimeoutMs: 30_000, pollMs: 100 };
/** Most replica moves under way at once. */
const MOVES_MAX = 2;

/** The consensus side of a node, with its lifecycle. */
export interface OpenConsensus {
  consensus: ConsensusPort;
  /** Writes forwarded to and from peers on the peer links. */
  forwarding: PeerForwarding;
  members: ClusterMember[];
  /** The meta document, through this node's replica of the meta group (if it holds one). */
  meta: MetaStore;
  /** This node's Raft groups, as control calls act on them. */
  groups: LocalGroups;
  /** Every node's groups, this node's directly and the others' over ReplicaControlService; none without a peer secret. */
  nodeGroups: NodeGroups | undefined;
  /** The cluster this node belongs to, as it was bootstrapped (what a joining node derives its identity from). */
  identity: { clusterId: string; members: readonly ClusterMember[]; shards: number; replicas: number };
  /** Takes `id` (a node that joined the cluster) as a peer, dialled at `peerAddress` unless --peer-dial says otherwise. */
  addPeer(id: string, peerAddress: string): void;
  /** Stops taking `id`'s connections and messages (a node removed from the cluster). */
  removePeer(id: string): void;
  /** Where the leaders of shards this node holds no replica of are believed to be. */
  useLeaderHints(hint: (shard: number) => string | undefined): void;
  /** Starts peer traffic and elections. */
  start(): Promise<void>;
  /** Hands this node's leaderships to other replicas (before a planned stop). */
  handOff(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
  /** The placement driver's moves under way and counts (it works while this node leads the meta group); none in a cluster of one. */
  placement: Pick<PlacementDriver, "moves" | "counts"> | undefined;
  /** Counters of the multi-Raft driver, for metrics. */
  driverStats: () => Record<string, number>;
  /** Under --testing-storage lossy: cuts every log and snapshot file to what it synced (the node must exit right after). */
  crashStorage: ((torn: boolean) => CrashReport) | undefined;
}

/**
 * Opens the node's write-ahead log and the Raft groups of its shards. A standalone node
 * is a cluster of one: the same Raft groups and log, with no peers to talk to.
 */
export async function openConsensus(
  config: NodeConfig,
  entry: ClusterEntry,
  logger: Logger,
  clock: Clock,
  onFatal: (err: unknown) => void,
  onAccessSamples?: (shard: number, keys: readonly string[]) => void,
  peerFaults?: PeerFaultHook,
): Promise<OpenConsensus> {
  const { members, book } = entry;
  const { replicas, placement, groups, placedHere } = initialGroups(config, members);
  // The data dir's identity first: with other members, shards or replicas, other groups would open.
  const identity = await openIdentity(config, entry, replicas, logger);
  // Test-only: the lossy file system is loaded only when asked for, never in a production node.
  const lossyFs = config.testing?.storage === "lossy" ? new (await import("@distcache/raft/testing")).LossyNodeWalFs() : undefined;
  // The shards placement gives this node, less those whose replicas left it since (tombstones),
  // and those whose replicas it was given since (their groups are in its log).
  const removedGroups = await openRemovedGroups(config.dataDir);
  const placed = placedHere.filter((hosted) => !removedGroups.has(groupOfShard(hosted.shard)));
  const groupLog = await openWalGroupLog(join(config.dataDir, "wal"), logger, lossyFs && { fs: lossyFs }, placed);
  const hostedShards = [...placed, ...laterGroups(groupLog, placedHere, config.shards, removedGroups)];
  // Messages arrive only after start(), by which time raft is initialised.
  const { transport, forwarding } = openPeerLinks(config, book, identity, logger, peerFaults, (from, payload) => raft.receive(from, payload));
  const raft: MultiRaft = await MultiRaft.open({
    nodeId: config.nodeId,
    hostedShards,
    removedGroups,
    // The book holds --initial-cluster (its seed) and every node the document added since.
    clusterNodes: book.all().map((m) => m.id),
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
  const bootstrap = bootstrapCommand(members, placement, DEFAULT_POINTS_PER_SHARD);
  const nodeGroups = clusterGroups(config, raft, meta, book);
  const driver = nodeGroups && placementDriver(config, nodeGroups, meta, logger);
  const metaDriver = new MetaDriver({ nodeId: config.nodeId, meta, bootstrap, intervalMs: META_ROUND_MS, placement: driver, logger });
  return {
    consensus: raft,
    forwarding,
    members,
    meta,
    groups: raft,
    nodeGroups,
    identity: { clusterId: identity.clusterId, members, shards: config.shards, replicas },
    start: async () => {
      if (book.all().length > 1) {
        const port = await transport.listen(config.peerPort, config.peerHost);
        logger.info({ peerAddress: `${config.peerHost}:${port}`, shards: hostedShards.map((hosted) => hosted.shard) }, "peer transport listening");
      }
      raft.start();
      const started = performance.now();
      await raft.recovered();
      logger.info({ replayMs: Math.round(performance.now() - started) }, "committed log applied");
      metaDriver.start();
    },
    ...peerChanges(config, transport, raft),
    handOff: (timeoutMs) => raft.handOffLeadership(timeoutMs),
    placement: driver,
    useLeaderHints: (hint) => raft.useLeaderHints(hint),
    driverStats: () => driverCounters(raft, transport, forwarding),
    crashStorage: lossyFs && ((torn) => lossyFs.crash({ torn, random: Math.random })),
    close: async () => {
      metaDriver.stop();
      await raft.close();
      await transport.close();
    },
  };
}

/** Takes a node that joined as a peer, or drops one that left, in the transport and in the Raft groups alike. */
function peerChanges(config: NodeConfig, transport: PeerTransport, raft: MultiRaft): Pick<OpenConsensus, "addPeer" | "removePeer"> {
  return {
    addPeer: (id, peerAddress) => {
      transport.setPeerAddress(id, config.peerDial.get(id) ?? peerAddress);
      raft.addClusterNode(id);
    },
    removePeer: (id) => {
      transport.removePeer(id);
      raft.removeClusterNode(id);
    },
  };
}

/** The data dir's identity, checked against this start's flags, and against the cluster's id when the node joined one. */
async function openIdentity(config: NodeConfig, entry: ClusterEntry, replicas: number, logger: Logger) {
  const members = entry.members.map((m) => m.id);
  const inputs = { nodeId: config.nodeId, members, shards: config.shards, replicas, replicasDefaulted: !config.replicas, secret: config.peerSecret };
  const identity = await openDataDirIdentity(config.dataDir, inputs, logger);
  if (entry.clusterId && entry.clusterId !== identity.clusterId) {
    throw new ConfigError(`the cluster's id is ${entry.clusterId}, this node derives ${identity.clusterId}: its --peer-secret differs from the cluster's`);
  }
  return identity;
}

/** Every node's groups: this node's directly, the others' over ReplicaControlService; none without a peer secret (a cluster of one). */
function clusterGroups(config: NodeConfig, raft: MultiRaft, meta: MetaStore, book: NodeBook): NodeGroups | undefined {
  if (!config.peerSecret) return undefined;
  const transferTimeoutMs = 4 * config.electionTicks * config.raftTickMs;
  const address = (id: string) => config.clientDial.get(id) ?? meta.local()?.state.nodes.find((n) => n.id === id)?.clientAddress ?? book.clientAddress(id);
  const token = (id: string) => controlToken(config.peerSecret, nodeAudience(id));
  const remote = new ControlClient({ token, address, timeoutMs: MOVE_OPTIONS.stepTimeoutMs });
  return routedNodeGroups(config.nodeId, raft, remote, transferTimeoutMs);
}

/** The placement driver of this node, working while it leads the meta group. */
function placementDriver(config: NodeConfig, nodes: NodeGroups, meta: MetaStore, logger: Logger) {
  return new PlacementDriver({
    nodes,
    leads: () => meta.leads(config.nodeId),
    forget: async (id) => {
      const result = await meta.apply({ kind: "forgetNode", id });
      if (!result.ok) logger.warn({ node: id, refusal: result.refusal }, "removing a node for good was refused");
    },
    moveOptions: MOVE_OPTIONS,
    movesMax: MOVES_MAX,
    balanceLeaders: config.leaderBalance,
    logger,
  });
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
    watchHistory: { eventsMax: config.watchHistoryEvents, bytesMax: config.watchHistoryBytes },
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

/** The peer transport and the forwarding on it: forwarded calls and their answers go to the forwarding, every other frame to `onRaft`. */
function openPeerLinks(
  config: NodeConfig,
  book: NodeBook,
  identity: { clusterId: string; incarnation: string },
  logger: Logger,
  faults: PeerFaultHook | undefined,
  onRaft: PeerTransportOptions["onMessage"],
): { transport: PeerTransport; forwarding: PeerForwarding } {
  const transport = openPeerTransport(config, book, identity, logger, faults, {
    onMessage: (from, payload) => forwarding.accept(from, payload) || onRaft(from, payload),
    onLinkDown: (peer) => forwarding.linkDown(peer),
    dropOnClose: (payload) => PeerForwarding.carries(payload),
  });
  const forwarding = new PeerForwarding(transport);
  return { transport, forwarding };
}

/** The peer transport, with the test-only fault hook under --testing-control. */
function openPeerTransport(
  config: NodeConfig,
  book: NodeBook,
  identity: { clusterId: string; incarnation: string },
  logger: Logger,
  faults: PeerFaultHook | undefined,
  handlers: Pick<PeerTransportOptions, "onMessage" | "onLinkDown" | "dropOnClose">,
): PeerTransport {
  return new PeerTransport({
    nodeId: config.nodeId,
    secret: config.peerSecret,
    clusterId: identity.clusterId,
    incarnation: identity.incarnation,
    incarnationProblem: (peer, incarnation) =>
      book.incarnationProblem(peer, incarnation, (err) => logger.error({ err, peer }, "could not record a peer's incarnation")),
    peers: new Map(
      book
        .all()
        .filter((m) => m.id !== config.nodeId)
        .map((m) => [m.id, config.peerDial.get(m.id) ?? m.peerAddress]),
    ),
    ...handlers,
    logger,
    faults,
  });
}

/** The multi-Raft driver's counters, with the peer transport's and the forwarding's. */
function driverCounters(raft: MultiRaft, transport: PeerTransport, forwarding: PeerForwarding): Record<string, number> {
  return {
    ...raft.stats,
    ...prefixed("snapshots", raft.snapshots.stats),
    ...prefixed("peer", { ...transport.stats }),
    ...prefixed("forwarded", { ...forwarding.client.stats, ...forwarding.server.stats }),
  };
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
