import type { Interceptor } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { ConsensusPort } from "../consensus/consensus-port.js";

/** What the placement driver shows: its moves under way, each at a phase, and its counts since start. */
export interface PlacementSource {
  moves(): readonly { shard: number; from: string | undefined; to: string | undefined; phase: string }[];
  readonly counts: Readonly<Record<string, number>>;
}

/** What the node's watches show: watchers open, relays to other nodes open, and events sent since start. */
export interface WatchSource {
  watchers(): number;
  relays(): number;
  eventsSent(): number;
}

/** Prometheus metrics of one node: per-method counts and latency, and the stores' stats. */
export class NodeMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: "distcache_requests_total",
    help: "RPCs handled, by method and Connect code (ok for success).",
    labelNames: ["method", "code"] as const,
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: "distcache_request_duration_seconds",
    help: "RPC handling time, by method.",
    labelNames: ["method"] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  private readonly batchCalls = new Counter({
    name: "distcache_batch_calls_total",
    help: "Calls run inside Batch requests, by the call's method and Connect code (ok for success).",
    labelNames: ["method", "code"] as const,
    registers: [this.registry],
  });
  private readonly forwardedTotal = new Counter({
    name: "distcache_forwarded_requests_total",
    help: "Requests this node forwarded to a shard leader, by method.",
    labelNames: ["method"] as const,
    registers: [this.registry],
  });
  private readonly refusedTotal = new Counter({
    name: "distcache_refused_total",
    help: "Connections closed at accept (bound connections_max) and requests answered resource_exhausted (bound inflight_requests_max) on the client port.",
    labelNames: ["bound"] as const,
    registers: [this.registry],
  });
  private readonly streamsTotal = new Counter({
    name: "distcache_streams_total",
    help: "Server streams (WatchTopology) by outcome: opened, refused (a streams bound), dropped (a consumer too slow), ended.",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  private readonly streamsOpen = new Gauge({
    name: "distcache_streams_open",
    help: "Server streams open now (counted against streams_max).",
    registers: [this.registry],
  });
  private clientPort: { connections: () => number; inflight: () => number } | undefined;
  private watches: WatchSource | undefined;

  constructor(consensus: ConsensusPort, raftStats?: () => Record<string, number>, placement?: PlacementSource) {
    collectDefaultMetrics({ register: this.registry, prefix: "distcache_process_" });
    this.registerClientPortGauges();
    this.registerWatchGauges();
    this.registerReplicaGauges(consensus);
    if (placement) this.registerPlacementGauges(placement);
    if (raftStats) this.registerTrafficGauges(raftStats);
    if (raftStats) {
      new Gauge({
        name: "distcache_raft_driver",
        help:
          "Multi-Raft driver counters since start: cycles, log appends, fsyncs, peer batches and messages, " +
          "snapshots taken, sent, received and installed, writes forwarded on peer links.",
        labelNames: ["counter"],
        registers: [this.registry],
        collect() {
          for (const [k, v] of Object.entries(raftStats())) this.set({ counter: k }, v);
        },
      });
    }
  }

  private registerWatchGauges(): void {
    const watches = () => this.watches;
    const gauge = (name: string, help: string, read: (w: WatchSource) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const source = watches();
          this.set(source ? read(source) : 0);
        },
      });
    gauge("distcache_watchers_open", "Watch streams open on this node (counted against watchers_max).", (w) => w.watchers());
    gauge("distcache_watch_relays_open", "Watch streams this node opened on other nodes, for shards it holds no replica of.", (w) => w.relays());
    gauge("distcache_watch_events_sent", "Change events this node's watch streams sent since it started.", (w) => w.eventsSent());
  }

  private registerClientPortGauges(): void {
    const clientPort = () => this.clientPort;
    new Gauge({
      name: "distcache_client_connections",
      help: "Open connections on the client port.",
      registers: [this.registry],
      collect() {
        this.set(clientPort()?.connections() ?? 0);
      },
    });
    new Gauge({
      name: "distcache_inflight_requests",
      help: "RPCs the node is serving (counted against inflight_requests_max).",
      registers: [this.registry],
      collect() {
        this.set(clientPort()?.inflight() ?? 0);
      },
    });
  }

  /** What this node sent and received over its peer links, and the snapshot part of it (what replica moves copy). */
  private registerTrafficGauges(raftStats: () => Record<string, number>): void {
    const gauge = (name: string, help: string, key: string) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(raftStats()[key] ?? 0);
        },
      });
    gauge("distcache_snapshot_bytes_sent", "Snapshot bytes this node sent to followers and new replicas since it started.", "snapshotsBytesSent");
    gauge("distcache_peer_bytes_sent", "Bytes this node wrote to its peer links since it started (log entries, snapshots, heartbeats).", "peerBytesSent");
    gauge("distcache_peer_bytes_received", "Bytes this node read from authenticated peer links since it started.", "peerBytesReceived");
  }

  /** Replica moves the placement driver has under way (on the meta group's leader; 0 elsewhere), their phases, and its counts. */
  private registerPlacementGauges(placement: PlacementSource): void {
    new Gauge({
      name: "distcache_replica_moves",
      help: "Replica moves under way, driven by this node (the meta group's leader).",
      registers: [this.registry],
      collect() {
        this.set(placement.moves().length);
      },
    });
    new Gauge({
      name: "distcache_replica_move_phase",
      help: "1 for each replica move under way, labelled by shard, from, to and the phase it is at.",
      labelNames: ["shard", "from", "to", "phase"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const m of placement.moves()) this.set({ shard: String(m.shard), from: m.from ?? "", to: m.to ?? "", phase: m.phase }, 1);
      },
    });
    new Gauge({
      name: "distcache_placement_events",
      help: "Placement driver events since start: movesStarted, moved, notMade, stopped, leaderTransfers, leaderTransferFailures.",
      labelNames: ["event"],
      registers: [this.registry],
      collect() {
        for (const [event, n] of Object.entries(placement.counts)) this.set({ event }, n);
      },
    });
  }

  /** One gauge per store statistic and the applied index, labelled by shard, read from the replicas at each scrape. */
  private registerReplicaGauges(consensus: ConsensusPort): void {
    const registry = this.registry;
    const stat = (name: string, help: string, pick: (s: ReturnType<ConsensusPort["replica"]>) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["shard"],
        registers: [registry],
        collect() {
          for (let shard = 0; shard < consensus.shardCount; shard++) {
            if (consensus.hosts(shard)) this.set({ shard: String(shard) }, pick(consensus.replica(shard)));
          }
        },
      });
    stat("distcache_store_hits", "Reads that found a live key.", (r) => r.store.stats().hits);
    stat("distcache_store_misses", "Reads that found nothing.", (r) => r.store.stats().misses);
    stat("distcache_store_evictions", "Keys evicted to respect bounds.", (r) => r.store.stats().evictions);
    stat("distcache_store_expirations", "Keys removed by TTL.", (r) => r.store.stats().expirations);
    stat("distcache_store_keys", "Live keys.", (r) => r.store.stats().keys);
    stat("distcache_store_bytes", "Accounted bytes (keys, values, per-entry overhead).", (r) => r.store.stats().bytes);
    stat("distcache_shard_applied_index", "Last log index applied.", (r) => r.appliedIndex);
    new Gauge({
      name: "distcache_shard_term",
      help: "The shard group's current Raft term on this replica (each election raises it).",
      labelNames: ["shard"],
      registers: [registry],
      collect() {
        for (let shard = 0; shard < consensus.shardCount; shard++) {
          if (consensus.hosts(shard)) this.set({ shard: String(shard) }, consensus.status(shard).term);
        }
      },
    });
  }

  /** Where the client-port gauges read their values (the server exists after the metrics). */
  watchClientPort(source: { connections: () => number; inflight: () => number }): void {
    this.clientPort = source;
  }

  /** The node's watches, for the watch gauges. */
  watchWatches(source: WatchSource): void {
    this.watches = source;
  }

  /** Counts a connection or a request refused because a bound was reached. */
  refused(bound: "connections_max" | "inflight_requests_max"): void {
    this.refusedTotal.inc({ bound });
  }

  /** Counts one server stream's step: opened, refused, dropped or ended. */
  stream(outcome: "opened" | "refused" | "dropped" | "ended"): void {
    this.streamsTotal.inc({ outcome });
    if (outcome === "opened") this.streamsOpen.inc();
    if (outcome === "ended") this.streamsOpen.dec();
  }

  forwarded(method: string): void {
    this.forwardedTotal.inc({ method });
  }

  /** Records one finished call; code undefined means success. */
  observe(method: string, code: Code | undefined, seconds: number): void {
    this.requests.inc({ method, code: code === undefined ? "ok" : (Code[code] ?? "unknown") });
    this.latency.observe({ method }, seconds);
  }

  /** Records one call of a Batch; code undefined means success. */
  batchCall(method: string, code: Code | undefined): void {
    this.batchCalls.inc({ method, code: code === undefined ? "ok" : (Code[code] ?? "unknown") });
  }

  /** A Connect interceptor that counts and times every call on the stock handler. */
  interceptor(): Interceptor {
    return (next) => async (req) => {
      const started = performance.now();
      try {
        const res = await next(req);
        this.observe(req.method.name, undefined, (performance.now() - started) / 1000);
        return res;
      } catch (err) {
        this.observe(req.method.name, ConnectError.from(err).code, (performance.now() - started) / 1000);
        throw err;
      }
    };
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
