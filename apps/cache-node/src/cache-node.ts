import type { Code } from "@connectrpc/connect";
import { CacheService, ClusterService } from "@distcache/proto";
import { ReplicaControlService } from "@distcache/proto/raft";
import { createReplicaControlService } from "./api/replica-control.js";
import { join } from "./api/membership-calls.js";
import { JOIN_AUDIENCE, adminToken, controlToken, nodeAudience } from "./peer/control-token.js";
import { Ring } from "@distcache/ring";
import pino, { type Logger } from "pino";
import { AccessHints } from "./background/access-hints.js";
import { Background } from "./background/background.js";
import { createCacheService } from "./api/cache-service.js";
import { createClusterService } from "./api/cluster-service.js";
import { MetaView } from "./placement/meta-view.js";
import { ClusterView } from "./placement/cluster-view.js";
import { StreamGate } from "./api/stream-gate.js";
import { StreamPlaces } from "./api/stream-places.js";
import { watchClients, type RelaySources } from "./api/watch-relay.js";
import { watchHandler } from "./api/watch-call.js";
import { WatchHub } from "./watch/watch-hub.js";
import { MemberSync } from "./placement/member-sync.js";
import type { NodeBook } from "./placement/node-book.js";
import { enterCluster, recordRemoval } from "./join-cluster.js";

/** How often a node looks in the meta document for nodes that joined. */
const MEMBER_SYNC_MS = 1000;
/** How often a node asks the others about the shards it holds no replica of, and looks at its own for changes. */
const VIEW_REMOTE_MS = 1000;
const VIEW_LOCAL_MS = 100;
import { fetchMetaSummary } from "./api/meta-fetch.js";
import { initialMetaVoters } from "./placement/meta-group.js";
import type { NodeConfig } from "./config/config.js";
import { openConsensus, type OpenConsensus } from "./open-consensus.js";
import type { ConsensusPort } from "./consensus/consensus-port.js";
import { Forwarder, type MemberDirectory } from "./routing/forwarder.js";
import { clampDeadlineHeaders } from "./http/deadline.js";
import { createDualServer, limitInflight, withEdges, type RequestHandler } from "./http/http-server.js";
import { NodeMetrics } from "./http/metrics.js";
import { createRouter } from "./routing/router.js";
import { systemClock, type Clock } from "./consensus/clock.js";
import { startTestingHooks } from "./testing-control.js";
import { hasBug } from "./config/testing-switches.js";
import { createStockHandler, type StockHandlerOptions } from "./http/stock-handler.js";
import { createUnaryFastPath } from "./http/unary-fast-path.js";
import { ignoredFlagMessages } from "./state-machine/store-settings.js";

export interface RunningNode {
  readonly port: number;
  readonly address: string;
  readonly consensus: ConsensusPort;
  /** Hands off leaderships, drains requests and closes the write-ahead log. */
  stop(): Promise<void>;
  /** Under --testing-storage lossy: cuts the node's files to what it synced; the process must exit at once after. */
  readonly crashStorage: OpenConsensus["crashStorage"];
}

/** What a node does when it can no longer run safely: log, and exit with code 70. */
function exitOnFatal(logger: Logger): (err: unknown) => void {
  return (err) => {
    logger.fatal({ err }, "cannot continue safely; exiting");
    process.exit(70);
  };
}

/** Wires the ports and adapters of one node and starts serving. */
export async function startCacheNode(
  config: NodeConfig,
  options: { logger?: Logger; clock?: Clock; onFatal?: (err: unknown) => void; onRemoved?: () => void } = {},
): Promise<RunningNode> {
  const logger = options.logger ?? pino({ level: config.logLevel, base: { node: config.nodeId } });
  const testing = await startTestingHooks(config.testing, logger, options.clock ?? systemClock);
  // Read samples: this node's own, and those followers send for shards it leads.
  const hints = new AccessHints(config.accessHintKeysMax);
  const onSamples = (shard: number, keys: readonly string[]) => keys.forEach((key) => hints.record(shard, key));
  const opened = await openInCluster(config, logger, testing.clock, options.onFatal ?? exitOnFatal(logger), onSamples, testing);
  const { consensus, members, book } = opened;
  const metrics = new NodeMetrics(consensus, opened.driverStats, opened.placement);
  let address = "";
  // This node's own entry uses the address it actually bound (it differs with --port 0).
  const directory = { clientAddress: (id: string) => (id === config.nodeId && address ? address : book.clientAddress(id)) };
  let ready = false;
  const meta = metaView(config, opened, directory);
  const holders = metaHolders(config, opened, directory);
  const view = clusterView(config, opened, meta);
  const streams = streamGate(config, metrics);
  const watching = watchParts(config, consensus, metrics);
  const parts = { book, directory, metrics, hints, meta, opened, view, streams, ...watching, clock: testing.clock, metaHolders: holders };
  const services = createServices(config, consensus, parts);
  const { server, bounded } = createClientPort(config, services, metrics, logger, () => ready);
  metrics.watchClientPort({ connections: () => server.connections(), inflight: bounded.inflight });
  // The committed log is applied before the client port opens (docs/decisions.md,
  // Startup): a read served earlier could see the store from before the restart. /healthz
  // therefore answers from the moment the node can serve; allow for the replay in probes.
  let port: number;
  try {
    await opened.start();
    port = await server.listen(config.port, config.host);
  } catch (err) {
    await opened.close();
    testing.close();
    throw err;
  }
  address = `${config.host}:${port}`;
  const stopBackground = startBackground(config, opened, hints, meta, logger, (epoch) => void removed(epoch));
  view.start();
  const stopSettingsCheck = warnAboutIgnoredFlags(config, consensus, logger);
  ready = true;
  logger.info({ address, shards: config.shards, members: members.length }, "serving");

  let stopping: Promise<void> | undefined;
  // The cluster removed this node (its replicas moved away first): it records that, and stops.
  const removed = async (epoch: number) => {
    logger.warn({ epoch }, "this node was removed from the cluster: stopping; its data dir will not start again");
    await recordRemoval(config.dataDir, config.nodeId, epoch).catch((err: unknown) => logger.error({ err }, "could not record the removal"));
    await stop();
    (options.onRemoved ?? (() => process.exit(0)))();
  };
  const stop = () =>
    (stopping ??= (async () => {
      ready = false;
      stopSettingsCheck();
      stopBackground();
      view.stop();
      streams.close();
      await opened.handOff(Math.min(3000, config.shutdownGraceMs));
      await server.close(config.shutdownGraceMs);
      await opened.close();
      testing.close();
      logger.info("stopped");
    })());
  return {
    port,
    address,
    consensus,
    crashStorage: opened.crashStorage,
    stop,
  };
}

/** Enters the cluster (joining it with --join) and opens the node's Raft groups. */
async function openInCluster(
  config: NodeConfig,
  logger: Logger,
  clock: Clock,
  onFatal: (err: unknown) => void,
  onSamples: (shard: number, keys: readonly string[]) => void,
  testing: Awaited<ReturnType<typeof startTestingHooks>>,
): Promise<OpenConsensus & { book: NodeBook }> {
  try {
    const entry = await enterCluster(config, logger);
    return { ...(await openConsensus(config, entry, logger, clock, onFatal, onSamples, testing.peerFaults)), book: entry.book };
  } catch (err) {
    testing.close();
    throw err;
  }
}

/** The node's background work: idle entries, access hints, and peers that joined the cluster. */
function startBackground(
  config: NodeConfig,
  opened: OpenConsensus & { book: NodeBook },
  hints: AccessHints,
  meta: MetaView,
  logger: Logger,
  onRemoved: (epoch: number) => void,
): () => void {
  const intervals = { idleEntryIntervalMs: config.idleEntryIntervalMs, accessHintIntervalMs: config.accessHintIntervalMs };
  const background = new Background(config.nodeId, opened.consensus, hints, intervals, logger);
  const sync = new MemberSync({
    nodeId: config.nodeId,
    summary: () => meta.freshest(),
    book: opened.book,
    addPeer: (id, peerAddress) => opened.addPeer(id, peerAddress),
    removePeer: (id) => opened.removePeer(id),
    onRemoved,
    intervalMs: MEMBER_SYNC_MS,
    logger,
  });
  background.start();
  sync.start();
  return () => {
    sync.stop();
    background.stop();
  };
}

/** The limits of the node's server streams, from its flags, counted in its metrics. */
function streamGate(config: NodeConfig, metrics: NodeMetrics): StreamGate {
  const limits = {
    perNodeMax: config.streamsMax,
    perConnectionMax: config.connectionStreamsMax,
    progressMs: config.streamProgressMs,
    queueMax: config.streamQueueMax,
    queueBytesMax: config.streamQueueBytes,
  };
  return new StreamGate(limits, (outcome) => metrics.stream(outcome));
}

/**
 * Every shard's leader and replicas as this node knows them: its own replicas', and the
 * other nodes' answers for the rest. Forwarding follows its leaders for the shards this
 * node holds no replica of.
 */
function clusterView(config: NodeConfig, opened: OpenConsensus, meta: MetaView): ClusterView {
  const view = new ClusterView({
    nodeId: config.nodeId,
    shardCount: config.shards,
    local: (shard) => opened.groups.groupStatus(shard),
    remote: (id, groups) => opened.nodeGroups?.statuses(id, groups) ?? Promise.resolve(undefined),
    summary: () => meta.freshest(),
    epochNow: () => meta.epoch(),
    remoteIntervalMs: VIEW_REMOTE_MS,
    localIntervalMs: VIEW_LOCAL_MS,
  });
  opened.useLeaderHints((shard) => view.leaderOf(shard));
  return view;
}

/** This node's view of the meta document: its own replica's, or else one asked of the nodes that hold the meta group. */
function metaView(config: NodeConfig, opened: OpenConsensus & { book: NodeBook }, directory: MemberDirectory): MetaView {
  const addresses = metaHolders(config, opened, directory);
  return new MetaView(opened.meta, () => fetchMetaSummary(addresses(), config.nodeId));
}

/**
 * The client addresses of the other nodes that may hold the meta group: its voters as this
 * node's replica last saw them, then the bootstrap voters, then every other node known
 * (the meta group's voters move with the placement).
 */
function metaHolders(config: NodeConfig, opened: OpenConsensus & { book: NodeBook }, directory: MemberDirectory): () => string[] {
  const bootstrap = initialMetaVoters(opened.members.map((m) => m.id));
  return () => {
    const voters = opened.groups.groupStatus(config.shards)?.voters ?? [];
    const ids = [...new Set([...voters, ...bootstrap, ...opened.book.all().map((n) => n.id)])].filter((id) => id !== config.nodeId);
    return ids.map((id) => config.clientDial.get(id) ?? directory.clientAddress(id) ?? "").filter(Boolean);
  };
}

/** The hub that hands applied change events to watchers outside the driver's cycle, and the bounds on watchers; both in the metrics. */
function watchParts(config: NodeConfig, consensus: ConsensusPort, metrics: NodeMetrics): { hub: WatchHub; watchers: StreamPlaces } {
  const hub = new WatchHub((shard) => (consensus.hosts(shard) ? consensus.replica(shard) : undefined));
  consensus.onApplied((shard) => hub.changed(shard));
  const watchers = watcherPlaces(config);
  metrics.watchWatches({ watchers: () => watchers.size, relays: () => hub.relaysOpen, eventsSent: () => hub.eventsSent });
  return { hub, watchers };
}

/** The bounds on watchers, per node and per connection. */
function watcherPlaces(config: NodeConfig): StreamPlaces {
  return new StreamPlaces({
    what: "watchers",
    perNodeMax: config.watchersMax,
    perConnectionMax: config.connectionWatchersMax,
    nodeFlag: "--watchers-max",
    connectionFlag: "--connection-watchers-max",
  });
}

/** Where a watch finds the shards this node holds no replica of: a voter of each, its leader first. */
function watchRelays(config: NodeConfig, directory: MemberDirectory, view: ClusterView): RelaySources {
  return {
    selfId: config.nodeId,
    holders: (shard) => {
      const group = view.current().shards[shard];
      return group ? [...new Set([...(group.leaderId ? [group.leaderId] : []), ...group.voters])] : [];
    },
    client: watchClients((id) => config.clientDial.get(id) ?? directory.clientAddress(id)),
  };
}

type ServiceEntry = StockHandlerOptions["services"][number];

/** The CacheService and ClusterService handlers, routing through this node's forwarder. */
function createServices(
  config: NodeConfig,
  consensus: ConsensusPort,
  parts: {
    book: NodeBook;
    directory: MemberDirectory;
    metrics: NodeMetrics;
    hints: AccessHints;
    clock: Clock;
    meta: MetaView;
    metaHolders: () => string[];
    opened: Pick<OpenConsensus, "groups" | "identity" | "meta" | "forwarding">;
    view: ClusterView;
    streams: StreamGate;
    hub: WatchHub;
    watchers: StreamPlaces;
  },
): ServiceEntry[] {
  const { book, directory, metrics } = parts;
  const ring = new Ring(Array.from({ length: config.shards }, (_, i) => i));
  const leaderWaitMs = 2 * config.electionTicks * config.raftTickMs;
  const router = createRouter({
    nodeId: config.nodeId,
    // Forwarded calls go where --client-dial says (a proxy, in tests); answers to clients name the advertised addresses.
    forwarder:
      book.all().length > 1 || config.peerSecret
        ? new Forwarder({ clientAddress: (id) => config.clientDial.get(id) ?? directory.clientAddress(id) }, parts.opened.forwarding.client)
        : undefined,
    directory,
    forwardTimeoutMs: config.operationTimeoutMs,
    onForward: (method) => metrics.forwarded(method),
    epoch: () => parts.meta.epoch(),
    awaitLeader: (shard, timeoutMs) => consensus.awaitLeader(shard, timeoutMs),
    leaderWaitMs,
  });
  const localExpiryClockMs = hasBug(config.testing, "local-clock-expiry") ? () => parts.clock.nowMs() : undefined;
  const onBatchCall = (method: string, code: Code | undefined) => metrics.batchCall(method, code);
  const serviceDeps = { nodeId: config.nodeId, ring, consensus, limits: config.limits, accessHints: parts.hints, router, localExpiryClockMs, onBatchCall };
  const { hub, streams, watchers } = parts;
  const relays = watchRelays(config, directory, parts.view);
  const watch = watchHandler({ ...serviceDeps, hub, streams, relays, watchers, operationTimeoutMs: config.operationTimeoutMs });
  const cacheImpl = { ...createCacheService(serviceDeps), watch };
  parts.opened.forwarding.server.serve(cacheImpl, { observe: (m, c, s) => metrics.observe(m, c, s), requestBytesMax: config.limits.requestBytesMax });
  const membership = {
    nodeId: config.nodeId,
    metaStore: parts.opened.meta,
    metaHolders: parts.metaHolders,
    // Forwarded calls go where --client-dial says (a proxy, in tests); then the meta document's address.
    clientAddress: (id: string) =>
      config.clientDial.get(id) ?? directory.clientAddress(id) ?? parts.opened.meta.local()?.state.nodes.find((n) => n.id === id)?.clientAddress,
    replicas: config.replicas || 3,
    adminToken: config.peerSecret ? adminToken(config.peerSecret) : "",
    operationTimeoutMs: config.operationTimeoutMs,
    leaderWaitMs,
    awaitLeader: (group: number, timeoutMs: number) => consensus.awaitLeader(group, timeoutMs),
  };
  const transferTimeoutMs = 4 * config.electionTicks * config.raftTickMs;
  const controlImpl = createReplicaControlService({
    tokens: config.peerSecret
      ? { node: controlToken(config.peerSecret, nodeAudience(config.nodeId)), join: controlToken(config.peerSecret, JOIN_AUDIENCE) }
      : { node: "", join: "" },
    groups: parts.opened.groups,
    transferTimeoutMs,
    join: (req, ctx) => join({ ...membership, identity: parts.opened.identity, summary: () => parts.meta.summary() }, req, ctx),
  });
  const clusterImpl = createClusterService({
    nodeId: config.nodeId,
    members: () => book.all().map((m) => ({ ...m, clientAddress: directory.clientAddress(m.id) ?? m.clientAddress })),
    ring,
    consensus,
    // A transfer takes about one election round trip; allow a few election timeouts.
    transferTimeoutMs,
    limits: config.limits,
    operationTimeoutMs: config.operationTimeoutMs,
    leaderWaitMs,
    meta: parts.meta,
    membership,
    view: parts.view,
    streams: parts.streams,
  });
  return [
    { service: CacheService, impl: cacheImpl },
    { service: ClusterService, impl: clusterImpl },
    { service: ReplicaControlService, impl: controlImpl },
  ];
}

/** The client port: the unary fast path before the stock handler, deadlines clamped, the in-flight bound, probes and /metrics. */
function createClientPort(config: NodeConfig, services: ServiceEntry[], metrics: NodeMetrics, logger: Logger, ready: () => boolean) {
  // A misspelt field in a hand-written JSON request is an error, not a silently ignored option.
  const jsonOptions = { ignoreUnknownFields: false };
  const stock = createStockHandler({
    services,
    requestBytesMax: config.limits.requestBytesMax,
    jsonOptions,
    interceptors: [metrics.interceptor()],
    onError: (err) => logger.debug({ err }, "a call ended without its response"),
  });
  const fast = createUnaryFastPath(services, { requestBytesMax: config.limits.requestBytesMax, jsonOptions, observe: (m, c, s) => metrics.observe(m, c, s) });
  const serve: RequestHandler = config.fastPath ? (req, res) => void (fast(req, res) || stock(req, res)) : stock;
  const connect: RequestHandler = (req, res) => {
    clampDeadlineHeaders(req.headers);
    serve(req, res);
  };
  // Probes and /metrics stay outside the in-flight bound, so an overloaded node still answers them.
  const bounded = limitInflight(connect, config.inflightRequestsMax, () => metrics.refused("inflight_requests_max"));
  const server = createDualServer(
    withEdges(bounded.handler, { live: () => true, ready, metrics: () => metrics.render() }),
    {
      firstBytesTimeoutMs: config.firstBytesTimeoutMs,
      headersTimeoutMs: config.headersTimeoutMs,
      bodyTimeoutMs: config.bodyTimeoutMs,
      connectionsMax: config.connectionsMax,
      h2StreamsMax: config.h2StreamsMax,
      idleTimeoutMs: config.idleTimeoutMs,
    },
    { onConnectionRefused: () => metrics.refused("connections_max") },
  );
  return { server, bounded };
}

/** How often the settings check looks whether every hosted shard is past its bootstrap. */
const SETTINGS_CHECK_INTERVAL_MS = 100;

/**
 * Store settings are replicated (invariant 10 of docs/design.md): --eviction-policy, --entries-max
 * and --bytes-max only seed new shards. Once every shard this node hosts has its
 * settings from its log (it applied a command, the first of which is a shard's seed),
 * logs one warning naming each of those flags that differs from what the shards use.
 * Returns a function that stops the check.
 */
function warnAboutIgnoredFlags(config: NodeConfig, consensus: ConsensusPort, logger: Logger): () => void {
  const hosted = Array.from({ length: consensus.shardCount }, (_, shard) => shard).filter((shard) => consensus.hosts(shard));
  const check = (): boolean => {
    if (hosted.some((shard) => consensus.replica(shard).lastStampMs === 0)) return false;
    const shards = hosted.map((shard) => ({ shard, settings: consensus.replica(shard).store.options }));
    const ignored = ignoredFlagMessages(config, shards);
    if (ignored.length > 0) logger.warn({ ignoredFlags: ignored }, ignored.join("; "));
    return true;
  };
  if (check()) return () => undefined;
  const timer = setInterval(() => {
    if (check()) clearInterval(timer);
  }, SETTINGS_CHECK_INTERVAL_MS).unref();
  return () => clearInterval(timer);
}
