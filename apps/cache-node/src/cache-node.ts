import { connectNodeAdapter } from "@connectrpc/connect-node";
import { CacheService, ClusterService } from "@distcache/proto";
import { Ring } from "@distcache/ring";
import pino, { type Logger } from "pino";
import { AccessHints } from "./access-hints.js";
import { Background } from "./background.js";
import { createCacheService } from "./cache-service.js";
import { createClusterService } from "./cluster-service.js";
import type { NodeConfig } from "./config.js";
import { createDualServer, withEdges, type RequestHandler } from "./http-server.js";
import { NodeMetrics } from "./metrics.js";
import { createUnaryFastPath } from "./unary-fast-path.js";
import { SingleNodeConsensus, systemClock, type Clock } from "./single-node-consensus.js";

export interface RunningNode {
  readonly port: number;
  readonly address: string;
  readonly consensus: SingleNodeConsensus;
  stop(): Promise<void>;
}

/** Wires the ports and adapters of one node and starts serving. */
export async function startCacheNode(config: NodeConfig, options: { logger?: Logger; clock?: Clock } = {}): Promise<RunningNode> {
  const log = options.logger ?? pino({ level: config.logLevel, base: { node: config.nodeId } });
  const clock = options.clock ?? systemClock;
  const { consensus, replayed, tornBytes } = await SingleNodeConsensus.open({
    nodeId: config.nodeId,
    dataDir: config.dataDir,
    shards: config.shards,
    clock,
    store: {
      policy: config.evictionPolicy,
      entriesMax: Math.floor(config.entriesMax / config.shards),
      bytesMax: Math.floor(config.bytesMax / config.shards),
    },
  });
  log.info({ replayed, tornBytes, dataDir: config.dataDir }, "command log recovered");

  const ring = new Ring(Array.from({ length: config.shards }, (_, i) => i));
  const hints = new AccessHints(config.accessHintKeysMax);
  const metrics = new NodeMetrics(consensus);
  let address = "";
  let ready = false;
  const cacheImpl = createCacheService({ nodeId: config.nodeId, ring, consensus, limits: config.limits, clock, accessHints: hints, evictionPolicy: config.evictionPolicy });
  const clusterImpl = createClusterService({ nodeId: config.nodeId, clientAddress: () => address, ring, consensus });
  // A misspelt field in a hand-written JSON request is an error, not a silently ignored option.
  const jsonOptions = { ignoreUnknownFields: false };
  const stock = connectNodeAdapter({
    readMaxBytes: config.limits.requestBytesMax,
    jsonOptions,
    interceptors: [metrics.interceptor()],
    routes: (router) => {
      router.service(CacheService, cacheImpl);
      router.service(ClusterService, clusterImpl);
    },
  }) as RequestHandler;
  const fast = createUnaryFastPath(
    [
      { service: CacheService, impl: cacheImpl },
      { service: ClusterService, impl: clusterImpl },
    ],
    { readMaxBytes: config.limits.requestBytesMax, jsonOptions, observe: (m, c, s) => metrics.observe(m, c, s) },
  );
  const connect: RequestHandler = config.fastPath ? (req, res) => void (fast(req, res) || stock(req, res)) : stock;
  const server = createDualServer(withEdges(connect, { live: () => true, ready: () => ready, metrics: () => metrics.render() }));
  const port = await server.listen(config.port, config.host);
  address = `${config.host}:${port}`;
  const background = new Background(
    consensus,
    hints,
    { tickIntervalMs: config.tickIntervalMs, accessHintIntervalMs: config.accessHintIntervalMs, hintsEnabled: config.evictionPolicy === "lru" || config.evictionPolicy === "lfu" },
    log,
  );
  background.start();
  ready = true;
  log.info({ address, shards: config.shards }, "serving");

  let stopping: Promise<void> | undefined;
  return {
    port,
    address,
    consensus,
    stop: () =>
      (stopping ??= (async () => {
        ready = false;
        background.stop();
        await server.close(config.shutdownGraceMs);
        await consensus.close();
        log.info("stopped");
      })()),
  };
}
