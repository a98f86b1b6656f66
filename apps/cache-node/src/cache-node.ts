import { CacheService, ClusterService } from "@distcache/proto";
import { Ring } from "@distcache/ring";
import pino, { type Logger } from "pino";
import { AccessHints } from "./background/access-hints.js";
import { Background } from "./background/background.js";
import { createCacheService } from "./api/cache-service.js";
import { createClusterService } from "./api/cluster-service.js";
import { MetaView } from "./placement/meta-view.js";
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
  options: { logger?: Logger; clock?: Clock; onFatal?: (err: unknown) => void } = {},
): Promise<RunningNode> {
  const logger = options.logger ?? pino({ level: config.logLevel, base: { node: config.nodeId } });
  const testing = await startTestingHooks(config.testing, logger, options.clock ?? systemClock);
  const clock = testing.clock;
  const onFatal = options.onFatal ?? exitOnFatal(logger);
  // Read samples: this node's own, and those followers send for shards it leads.
  const hints = new AccessHints(config.accessHintKeysMax);
  const onSamples = (shard: number, keys: readonly string[]) => keys.forEach((key) => hints.record(shard, key));
  const opened = await openConsensus(config, logger, clock, onFatal, onSamples, testing.peerFaults).catch((err: unknown) => {
    testing.close();
    throw err;
  });
  const { consensus, members } = opened;

  const metrics = new NodeMetrics(consensus, opened.driverStats);
  let address = "";
  // This node's own entry uses the address it actually bound (it differs with --port 0).
  const directory = { clientAddress: (id: string) => (id === config.nodeId && address ? address : members.find((m) => m.id === id)?.clientAddress) };
  let ready = false;
  const meta = metaView(config, opened, directory);
  const services = createServices(config, consensus, { members, directory, metrics, hints, clock, meta });
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
  const background = new Background(
    config.nodeId,
    consensus,
    hints,
    { idleEntryIntervalMs: config.idleEntryIntervalMs, accessHintIntervalMs: config.accessHintIntervalMs },
    logger,
  );
  background.start();
  const stopSettingsCheck = warnAboutIgnoredFlags(config, consensus, logger);
  ready = true;
  logger.info({ address, shards: config.shards, members: members.length }, "serving");

  let stopping: Promise<void> | undefined;
  return {
    port,
    address,
    consensus,
    crashStorage: opened.crashStorage,
    stop: () =>
      (stopping ??= (async () => {
        ready = false;
        stopSettingsCheck();
        background.stop();
        await opened.handOff(Math.min(3000, config.shutdownGraceMs));
        await server.close(config.shutdownGraceMs);
        await opened.close();
        testing.close();
        logger.info("stopped");
      })()),
  };
}

/** This node's view of the meta document: its own replica's, or else one asked of the nodes that hold the meta group. */
function metaView(config: NodeConfig, opened: OpenConsensus, directory: MemberDirectory): MetaView {
  const holders = initialMetaVoters(opened.members.map((m) => m.id)).filter((id) => id !== config.nodeId);
  const addresses = () => holders.map((id) => config.clientDial.get(id) ?? directory.clientAddress(id) ?? "");
  return new MetaView(opened.meta, () => fetchMetaSummary(addresses(), config.nodeId));
}

type Members = Awaited<ReturnType<typeof openConsensus>>["members"];
type ServiceEntry = StockHandlerOptions["services"][number];

/** The CacheService and ClusterService handlers, routing through this node's forwarder. */
function createServices(
  config: NodeConfig,
  consensus: ConsensusPort,
  parts: { members: Members; directory: MemberDirectory; metrics: NodeMetrics; hints: AccessHints; clock: Clock; meta: MetaView },
): ServiceEntry[] {
  const { members, directory, metrics } = parts;
  const ring = new Ring(Array.from({ length: config.shards }, (_, i) => i));
  const leaderWaitMs = 2 * config.electionTicks * config.raftTickMs;
  const router = createRouter({
    nodeId: config.nodeId,
    // Forwarded calls go where --client-dial says (a proxy, in tests); answers to clients name the advertised addresses.
    forwarder: members.length > 1 ? new Forwarder({ clientAddress: (id) => config.clientDial.get(id) ?? directory.clientAddress(id) }) : undefined,
    directory,
    forwardTimeoutMs: config.operationTimeoutMs,
    onForward: (method) => metrics.forwarded(method),
    epoch: () => parts.meta.epoch(),
    awaitLeader: (shard, timeoutMs) => consensus.awaitLeader(shard, timeoutMs),
    leaderWaitMs,
  });
  const localExpiryClockMs = hasBug(config.testing, "local-clock-expiry") ? () => parts.clock.nowMs() : undefined;
  const serviceDeps = { nodeId: config.nodeId, ring, consensus, limits: config.limits, accessHints: parts.hints, router, localExpiryClockMs };
  const cacheImpl = createCacheService(serviceDeps);
  const clusterImpl = createClusterService({
    nodeId: config.nodeId,
    members: () => members.map((m) => ({ ...m, clientAddress: directory.clientAddress(m.id) ?? m.clientAddress })),
    ring,
    consensus,
    // A transfer takes about one election round trip; allow a few election timeouts.
    transferTimeoutMs: 4 * config.electionTicks * config.raftTickMs,
    limits: config.limits,
    operationTimeoutMs: config.operationTimeoutMs,
    leaderWaitMs,
    meta: parts.meta,
  });
  return [
    { service: CacheService, impl: cacheImpl },
    { service: ClusterService, impl: clusterImpl },
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
