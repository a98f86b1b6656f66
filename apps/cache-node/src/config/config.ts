import { readFileSync } from "node:fs";
import { NODE_ID_PATTERN, PROTOCOL_LIMITS } from "@distcache/proto/limits";
import { ENTRY_MEMORY_OVERHEAD_BYTES } from "@distcache/store";
import { Command, InvalidArgumentError, Option } from "commander";
import { isHostPort, parseInitialCluster, parsePeerDial, type ClusterMember } from "./cluster-config.js";
import { ConfigError } from "./config-error.js";
import { CLOCK_OFFSET_MS_MAX, PLANTED_BUGS, resolveTestingSwitches, type TestingSwitches } from "./testing-switches.js";

export type EvictionPolicyName = "lru" | "lfu" | "fifo" | "random";

/** Every bound the node enforces; each has a default and a clear error when exceeded (invariant 6 of docs/design.md). */
export interface Limits {
  keyBytesMax: number;
  valueBytesMax: number;
  batchKeysMax: number;
  requestBytesMax: number;
  /** Largest answer a read may build (keys and values of an MGet); above it the read is resource_exhausted. */
  responseBytesMax: number;
  ttlMsMax: number;
}

export interface NodeConfig {
  nodeId: string;
  host: string;
  port: number;
  dataDir: string;
  /** Peer (Raft) listener; its port defaults to the client port + 100. */
  peerHost: string;
  peerPort: number;
  /** Every member's addresses, this node's included; empty means a cluster of this node alone. */
  initialCluster: ClusterMember[];
  /** A node's client URL to join a running cluster through (a node that starts with no --initial-cluster). */
  join: string;
  /** The client and peer addresses other nodes reach this one at (default: where it listens). */
  advertiseClient: string;
  advertisePeer: string;
  /** Shared secret peers prove they know (HMAC challenge); required with more than one member. */
  peerSecret: string;
  /** Per-peer dial address overrides (for proxies in tests). */
  peerDial: Map<string, string>;
  /** Per-node overrides of the client address this node forwards calls to (the address the node advertises otherwise). */
  clientDial: Map<string, string>;
  shards: number;
  /** Replicas per shard; 0 means min(3, members). */
  replicas: number;
  /** Raft tick; elections take electionTicks to 2 × electionTicks ticks. */
  raftTickMs: number;
  electionTicks: number;
  /** How long a write or strong read may wait for its shard's Raft group before it fails. */
  operationTimeoutMs: number;
  /**
   * How far the stamp a strong read judges expiry at may trail cluster time; a read on a
   * shard whose last stamp is older waits for a time entry (invariant 9 of docs/design.md).
   */
  readStampLagMsMax: number;
  /** A shard replica is snapshotted, and its log compacted, after this many applied entries... */
  snapshotEntries: number;
  /** ...or after this many applied entry bytes, whichever comes first. */
  snapshotBytes: number;
  logLevel: string;
  evictionPolicy: EvictionPolicyName;
  /** Bounds of the whole node; each shard gets an equal share. */
  entriesMax: number;
  bytesMax: number;
  limits: Limits;
  /**
   * How often an idle shard proposes an empty entry to carry time forward and sweep expired
   * keys (config-file key `idleEntryIntervalMs`; `tickIntervalMs` is read too, its earlier name).
   */
  idleEntryIntervalMs: number;
  /** How often read samples are proposed as access hints for recency and frequency. */
  accessHintIntervalMs: number;
  accessHintKeysMax: number;
  shutdownGraceMs: number;
  /** Serve unary Connect calls through the unary fast path (same behaviour, less overhead). */
  fastPath: boolean;
  /** Whether this node, while it leads the meta group, moves shard leaderships to balance them. */
  leaderBalance: boolean;
  /** Client port: a new connection must send enough to tell HTTP/1.1 from HTTP/2 within this time. */
  firstBytesTimeoutMs: number;
  /** Client port: HTTP/1.1 request headers must arrive within this time. */
  headersTimeoutMs: number;
  /** Client port: a request body must arrive within this time after its headers. */
  bodyTimeoutMs: number;
  /** Client port: open connections above this are closed at accept. */
  connectionsMax: number;
  /** Client port: concurrent HTTP/2 streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
  h2StreamsMax: number;
  /** Client port: a connection with no request in flight is closed after this long without traffic. */
  idleTimeoutMs: number;
  /** Requests served at once; more are answered resource_exhausted. */
  inflightRequestsMax: number;
  /** Server streams (WatchTopology) open at once on this node; more are answered resource_exhausted. */
  streamsMax: number;
  /** Server streams open at once on one client connection. */
  connectionStreamsMax: number;
  /** Every stream sends a progress message at this interval. */
  streamProgressMs: number;
  /** Messages a stream may hold for a consumer that reads too slowly before it is dropped. */
  streamQueueMax: number;
  /** Bytes of messages a stream holds for a slow consumer before it is dropped (--stream-queue-bytes). */
  streamQueueBytes: number;
  /** Watch streams open at once on this node (each is also a server stream). */
  watchersMax: number;
  /** Watch streams open at once on one client connection. */
  connectionWatchersMax: number;
  /** Change events each replica retains for watches to resume from, by count... */
  watchHistoryEvents: number;
  /** ...and by bytes of keys and values. */
  watchHistoryBytes: number;
  /** Test-only switches (fault hooks, clock offset, planted bugs); undefined unless --testing. */
  testing: TestingSwitches | undefined;
}

/** The largest --read-stamp-lag-ms-max: a strong read may be judged at most a minute in the past. */
const READ_STAMP_LAG_MS_CEILING = 60_000;

export const DEFAULT_CONFIG: NodeConfig = {
  nodeId: "n1",
  host: "127.0.0.1",
  port: 7301,
  dataDir: "./.data/n1",
  peerHost: "127.0.0.1",
  peerPort: 7401,
  initialCluster: [],
  join: "",
  advertiseClient: "",
  advertisePeer: "",
  peerSecret: "",
  peerDial: new Map(),
  clientDial: new Map(),
  shards: 12,
  replicas: 0,
  raftTickMs: 50,
  electionTicks: 10,
  operationTimeoutMs: 5000,
  readStampLagMsMax: 50,
  snapshotEntries: 10000,
  snapshotBytes: 64 * 1024 * 1024,
  logLevel: "info",
  evictionPolicy: "lru",
  entriesMax: 1_000_000,
  bytesMax: 256 * 1024 * 1024,
  limits: {
    keyBytesMax: 1024,
    valueBytesMax: 1024 * 1024,
    batchKeysMax: 1000,
    requestBytesMax: 4 * 1024 * 1024,
    responseBytesMax: 64 * 1024 * 1024,
    ttlMsMax: 365 * 24 * 3600 * 1000,
  },
  idleEntryIntervalMs: 1000,
  accessHintIntervalMs: 200,
  accessHintKeysMax: 1024,
  shutdownGraceMs: 5000,
  fastPath: true,
  leaderBalance: true,
  firstBytesTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 30_000,
  connectionsMax: 10_000,
  h2StreamsMax: 256,
  idleTimeoutMs: 65_000,
  inflightRequestsMax: 4096,
  streamsMax: 1024,
  connectionStreamsMax: 16,
  streamProgressMs: 5000,
  streamQueueMax: 256,
  streamQueueBytes: 1024 * 1024,
  watchersMax: 512,
  connectionWatchersMax: 8,
  watchHistoryEvents: 10_000,
  watchHistoryBytes: 8 * 1024 * 1024,
  testing: undefined,
};

const POLICIES: readonly EvictionPolicyName[] = ["lru", "lfu", "fifo", "random"];

/** Environment variables that set each option, so containers can be configured without flags. */
const ENV: Record<string, string> = {
  nodeId: "DISTCACHE_NODE_ID",
  host: "DISTCACHE_HOST",
  port: "DISTCACHE_PORT",
  dataDir: "DISTCACHE_DATA_DIR",
  peerHost: "DISTCACHE_PEER_HOST",
  peerPort: "DISTCACHE_PEER_PORT",
  initialCluster: "DISTCACHE_INITIAL_CLUSTER",
  join: "DISTCACHE_JOIN",
  advertiseClient: "DISTCACHE_ADVERTISE_CLIENT",
  advertisePeer: "DISTCACHE_ADVERTISE_PEER",
  peerSecret: "DISTCACHE_PEER_SECRET",
  peerDial: "DISTCACHE_PEER_DIAL",
  clientDial: "DISTCACHE_CLIENT_DIAL",
  replicas: "DISTCACHE_REPLICAS",
  shards: "DISTCACHE_SHARDS",
  logLevel: "DISTCACHE_LOG_LEVEL",
  evictionPolicy: "DISTCACHE_EVICTION_POLICY",
  entriesMax: "DISTCACHE_ENTRIES_MAX",
  bytesMax: "DISTCACHE_BYTES_MAX",
  keyBytesMax: "DISTCACHE_KEY_BYTES_MAX",
  valueBytesMax: "DISTCACHE_VALUE_BYTES_MAX",
  batchKeysMax: "DISTCACHE_BATCH_KEYS_MAX",
  requestBytesMax: "DISTCACHE_REQUEST_BYTES_MAX",
  responseBytesMax: "DISTCACHE_RESPONSE_BYTES_MAX",
  firstBytesTimeoutMs: "DISTCACHE_FIRST_BYTES_TIMEOUT_MS",
  headersTimeoutMs: "DISTCACHE_HEADERS_TIMEOUT_MS",
  bodyTimeoutMs: "DISTCACHE_BODY_TIMEOUT_MS",
  connectionsMax: "DISTCACHE_CONNECTIONS_MAX",
  h2StreamsMax: "DISTCACHE_H2_STREAMS_MAX",
  idleTimeoutMs: "DISTCACHE_IDLE_TIMEOUT_MS",
  inflightRequestsMax: "DISTCACHE_INFLIGHT_REQUESTS_MAX",
  streamsMax: "DISTCACHE_STREAMS_MAX",
  connectionStreamsMax: "DISTCACHE_CONNECTION_STREAMS_MAX",
  streamProgressMs: "DISTCACHE_STREAM_PROGRESS_MS",
  streamQueueMax: "DISTCACHE_STREAM_QUEUE_MAX",
  streamQueueBytes: "DISTCACHE_STREAM_QUEUE_BYTES",
  watchersMax: "DISTCACHE_WATCHERS_MAX",
  connectionWatchersMax: "DISTCACHE_CONNECTION_WATCHERS_MAX",
  watchHistoryEvents: "DISTCACHE_WATCH_HISTORY_EVENTS",
  watchHistoryBytes: "DISTCACHE_WATCH_HISTORY_BYTES",
  ttlMsMax: "DISTCACHE_TTL_MS_MAX",
  snapshotBytes: "DISTCACHE_SNAPSHOT_BYTES",
};

export { ConfigError };

function positiveInt(name: string, min = 1, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max}], got "${raw}"`);
    }
    return value;
  };
}

function signedInt(name: string) {
  return (raw: string): number => {
    const value = Number(raw);
    if (raw.trim() === "" || !Number.isSafeInteger(value)) throw new InvalidArgumentError(`${name} must be an integer, got "${raw}"`);
    return value;
  };
}

const BYTE_UNITS: Record<string, number> = { "": 1, b: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };
/** The largest byte count a size option takes (1 PiB). */
const BYTE_COUNT_MAX = 2 ** 50;

/** A byte count: a plain integer, or one with a binary suffix (B, KiB, MiB, GiB, TiB; any case), e.g. "64MiB"; undefined if it is neither. */
export function parseByteCount(raw: string): number | undefined {
  const match = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(raw);
  const unit = match ? BYTE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) return undefined;
  const value = Number(match[1]) * unit;
  return Number.isSafeInteger(value) ? value : undefined;
}

function byteCountOption(name: string, min = 1, max = BYTE_COUNT_MAX) {
  return (raw: string): number => {
    const value = parseByteCount(raw);
    if (value === undefined || value < min || value > max) {
      throw new InvalidArgumentError(`${name} must be a byte count in [${min}, ${max}] (an integer, or with a suffix such as 64MiB), got "${raw}"`);
    }
    return value;
  };
}

/** The longest delay a node timer can wait (longer ones fire at once). */
const TIMER_MS_MAX = 2 ** 31 - 1;
/**
 * The longest interval between a server stream's progress messages. Clients (the SDK)
 * take 15 s without a message as a dead connection and reconnect, so progress must come
 * well within that.
 */
export const STREAM_PROGRESS_MS_MAX = 10_000;

function timerMs(key: string, value: number): number {
  if (value > TIMER_MS_MAX) throw new ConfigError(`${key} must be at most ${TIMER_MS_MAX}, got ${value}`);
  return value;
}

type OptionSpec = [flags: string, description: string, key: string, parse?: (raw: string) => unknown];

const d = DEFAULT_CONFIG;
/** Every flag: its name, help text, the config key it sets (and its environment variable through ENV), and its parser. */
const OPTION_SPECS: OptionSpec[] = [
  ["--config <file>", "JSON file with any of the options below (flags and env override it)", "config"],
  ["--node-id <id>", `node id (default "${d.nodeId}")`, "nodeId"],
  ["--host <host>", `client address to listen on (default ${d.host})`, "host"],
  ["--port <port>", `client port; 0 picks a free one (default ${d.port})`, "port", positiveInt("--port", 0, 65535)],
  ["--data-dir <dir>", `directory for the write-ahead log (default ${d.dataDir})`, "dataDir"],
  ["--peer-host <host>", `peer (Raft) listen address (default ${d.peerHost})`, "peerHost"],
  ["--peer-port <port>", "peer port (default: client port + 100)", "peerPort", positiveInt("--peer-port", 0, 65535)],
  ["--initial-cluster <list>", "every member as id=clientHost:port/peerHost:port, comma-separated; this node listens on its own entry", "initialCluster"],
  ["--join <url>", "join a running cluster through any node's client URL (instead of --initial-cluster)", "join"],
  ["--advertise-client <host:port>", "client address other nodes and clients reach this node at (default: --host:--port)", "advertiseClient"],
  ["--advertise-peer <host:port>", "peer address other nodes reach this node at (default: --peer-host:--peer-port)", "advertisePeer"],
  ["--peer-secret <secret>", "shared secret for peer authentication (required with several members)", "peerSecret"],
  ["--peer-secret-file <file>", "read the peer secret from a file", "peerSecretFile"],
  ["--peer-dial <list>", "dial address overrides as id=host:port, comma-separated", "peerDial"],
  [
    "--client-dial <list>",
    "where to send calls forwarded to each node's client port (reads; writes while its peer link is down), as id=host:port, " +
      "comma-separated (default: the address it advertises)",
    "clientDial",
  ],
  ["--replicas <n>", "replicas per shard (default: min(3, members))", "replicas", positiveInt("--replicas", 1, 9)],
  ["--raft-tick-ms <ms>", `Raft tick interval (default ${d.raftTickMs})`, "raftTickMs", positiveInt("--raft-tick-ms", 1, 10000)],
  [
    "--snapshot-entries <n>",
    `snapshot a shard replica and compact its log every n applied entries (default ${d.snapshotEntries})`,
    "snapshotEntries",
    positiveInt("--snapshot-entries", 1, 100_000_000),
  ],
  [
    "--snapshot-bytes <n>",
    "snapshot a shard replica and compact its log every n applied entry bytes too, whichever of the two comes first; " +
      `a plain integer or e.g. 64MiB (default ${d.snapshotBytes})`,
    "snapshotBytes",
    byteCountOption("--snapshot-bytes"),
  ],
  [
    "--read-stamp-lag-ms-max <ms>",
    `how stale the stamp a strong read judges TTLs at may be; an older one waits for a time entry (default ${d.readStampLagMsMax})`,
    "readStampLagMsMax",
    positiveInt("--read-stamp-lag-ms-max", 1, READ_STAMP_LAG_MS_CEILING),
  ],
  ["--election-ticks <n>", `election timeout in ticks (default ${d.electionTicks})`, "electionTicks", positiveInt("--election-ticks", 2, 1000)],
  ["--shards <n>", `number of shards, fixed at bootstrap (default ${d.shards})`, "shards", positiveInt("--shards", 1, 4096)],
  ["--log-level <level>", `pino log level (default ${d.logLevel})`, "logLevel"],
  ["--eviction-policy <policy>", `lru | lfu | fifo | random (default ${d.evictionPolicy})`, "evictionPolicy"],
  ["--entries-max <n>", `max keys on the node (default ${d.entriesMax})`, "entriesMax", positiveInt("--entries-max")],
  ["--bytes-max <n>", `max accounted bytes on the node (default ${d.bytesMax})`, "bytesMax", positiveInt("--bytes-max")],
  ["--key-bytes-max <n>", `max key size in UTF-8 bytes (default ${d.limits.keyBytesMax})`, "keyBytesMax", positiveInt("--key-bytes-max")],
  ["--value-bytes-max <n>", `max value size (default ${d.limits.valueBytesMax})`, "valueBytesMax", positiveInt("--value-bytes-max")],
  ["--batch-keys-max <n>", `max keys in one MGet/MSet/MDelete (default ${d.limits.batchKeysMax})`, "batchKeysMax", positiveInt("--batch-keys-max")],
  ["--request-bytes-max <n>", `max request body (default ${d.limits.requestBytesMax})`, "requestBytesMax", positiveInt("--request-bytes-max")],
  [
    "--response-bytes-max <n>",
    `max keys and values one read answers with (default ${d.limits.responseBytesMax})`,
    "responseBytesMax",
    positiveInt("--response-bytes-max"),
  ],
  ["--ttl-ms-max <ms>", `longest TTL a write may ask for (default ${d.limits.ttlMsMax})`, "ttlMsMax", positiveInt("--ttl-ms-max")],
  ["--no-fast-path", "serve every call through the stock Connect handler", "fastPath"],
  ["--no-leader-balance", "never move shard leaderships to balance them (the meta group's leader decides: set it on every node)", "leaderBalance"],
  [
    "--first-bytes-timeout-ms <ms>",
    `close a client connection that has not sent enough to tell HTTP/1.1 from HTTP/2 within ms (default ${d.firstBytesTimeoutMs})`,
    "firstBytesTimeoutMs",
    positiveInt("--first-bytes-timeout-ms", 1, TIMER_MS_MAX),
  ],
  [
    "--headers-timeout-ms <ms>",
    `HTTP/1.1 request headers must arrive within ms (default ${d.headersTimeoutMs})`,
    "headersTimeoutMs",
    positiveInt("--headers-timeout-ms", 1, TIMER_MS_MAX),
  ],
  [
    "--body-timeout-ms <ms>",
    `a request body must arrive within ms of its headers (default ${d.bodyTimeoutMs})`,
    "bodyTimeoutMs",
    positiveInt("--body-timeout-ms", 1, TIMER_MS_MAX),
  ],
  [
    "--connections-max <n>",
    `open client connections; more are closed at accept (default ${d.connectionsMax})`,
    "connectionsMax",
    positiveInt("--connections-max"),
  ],
  [
    "--h2-streams-max <n>",
    `concurrent HTTP/2 streams per client connection (default ${d.h2StreamsMax})`,
    "h2StreamsMax",
    positiveInt("--h2-streams-max", 1, 2 ** 31 - 1),
  ],
  [
    "--idle-timeout-ms <ms>",
    `close a client connection with no request in flight after ms without traffic (default ${d.idleTimeoutMs})`,
    "idleTimeoutMs",
    positiveInt("--idle-timeout-ms", 1, TIMER_MS_MAX),
  ],
  [
    "--inflight-requests-max <n>",
    `requests served at once; more are answered resource_exhausted (default ${d.inflightRequestsMax})`,
    "inflightRequestsMax",
    positiveInt("--inflight-requests-max"),
  ],
  [
    "--streams-max <n>",
    `server streams (WatchTopology) open at once; more are answered resource_exhausted (default ${d.streamsMax})`,
    "streamsMax",
    positiveInt("--streams-max"),
  ],
  [
    "--connection-streams-max <n>",
    `server streams open at once on one client connection (default ${d.connectionStreamsMax})`,
    "connectionStreamsMax",
    positiveInt("--connection-streams-max"),
  ],
  [
    "--stream-progress-ms <ms>",
    `every server stream sends a progress message at this interval, at most ${STREAM_PROGRESS_MS_MAX} (default ${d.streamProgressMs})`,
    "streamProgressMs",
    positiveInt("--stream-progress-ms", 1, STREAM_PROGRESS_MS_MAX),
  ],
  [
    "--stream-queue-max <n>",
    `messages a stream holds for a slow consumer before dropping it with resource_exhausted (default ${d.streamQueueMax})`,
    "streamQueueMax",
    positiveInt("--stream-queue-max", 1, 1_000_000),
  ],
  [
    "--stream-queue-bytes <n>",
    `bytes of messages a stream holds for a slow consumer before dropping it with resource_exhausted (default ${d.streamQueueBytes})`,
    "streamQueueBytes",
    positiveInt("--stream-queue-bytes", 1, 2 ** 40),
  ],
  [
    "--watchers-max <n>",
    `Watch streams open at once; more are answered resource_exhausted (default ${d.watchersMax})`,
    "watchersMax",
    positiveInt("--watchers-max"),
  ],
  [
    "--connection-watchers-max <n>",
    `Watch streams open at once on one client connection (default ${d.connectionWatchersMax})`,
    "connectionWatchersMax",
    positiveInt("--connection-watchers-max"),
  ],
  [
    "--watch-history-events <n>",
    `change events each replica keeps for watches to resume from (default ${d.watchHistoryEvents})`,
    "watchHistoryEvents",
    positiveInt("--watch-history-events", 1, 10_000_000),
  ],
  [
    "--watch-history-bytes <n>",
    `bytes of keys and values each replica keeps for watches to resume from (default ${d.watchHistoryBytes})`,
    "watchHistoryBytes",
    positiveInt("--watch-history-bytes", 1, 2 ** 40),
  ],
  ["--testing", "allow the test-only switches below (chaos testing only; never in production)", "testing"],
  ["--testing-control <file>", "test only: a JSON file of peer faults and clock changes, watched while the node runs", "testingControl"],
  [
    "--testing-clock-offset-ms <ms>",
    `test only: add ms to every wall-clock reading (at most ${CLOCK_OFFSET_MS_MAX} either way)`,
    "testingClockOffsetMs",
    signedInt("--testing-clock-offset-ms"),
  ],
  [
    "--testing-storage <mode>",
    "test only: real (the default), or lossy: SIGUSR2 then cuts every log and snapshot file to what it synced and exits",
    "testingStorage",
  ],
  ["--testing-bug <names>", `test only: plant bugs, comma-separated: ${Object.keys(PLANTED_BUGS).join(", ")}`, "testingBug"],
];

function buildCommand(): Command {
  const command = new Command("cache-node").description(
    "distcache server node: serves CacheService and ClusterService on one port (Connect, gRPC, gRPC-Web; HTTP/1.1 and h2c).",
  );
  for (const [flags, description, key, parse] of OPTION_SPECS) {
    const option = new Option(flags, description);
    if (ENV[key]) option.env(ENV[key]);
    if (parse) option.argParser(parse as (raw: string, prev: unknown) => unknown);
    command.addOption(option);
  }
  return command.exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) });
}

type Flat = Partial<Record<string, unknown>>;

function readConfigFile(path: string): Flat {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not a JSON object");
    return parsed as Flat;
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Merges defaults, an optional file, env and flags (later wins), then validates. */
export function parseConfig(argv: readonly string[]): NodeConfig {
  const command = buildCommand();
  command.parse([...argv], { from: "user" });
  const flags = command.opts() as Flat;
  const file = typeof flags["config"] === "string" ? readConfigFile(flags["config"]) : {};
  // Only the command line may turn test-only switches on: a config file shared between
  // environments must never carry them into production.
  if (file["testing"] !== undefined) throw new ConfigError(`config file ${String(flags["config"])}: "testing" is accepted only as the --testing flag`);
  const merged: Flat = { ...file, ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) };
  return resolveConfig(merged);
}

/** Builds a validated config from a flat object of overrides (used by tests and scripts too). */
export function resolveConfig(flat: Flat): NodeConfig {
  const d = DEFAULT_CONFIG;
  const pick = <T>(key: string, fallback: T): T => (flat[key] === undefined ? fallback : (flat[key] as T));
  const integer = (key: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number => {
    const value = Number(pick(key, fallback));
    if (!Number.isSafeInteger(value) || value < min) throw new ConfigError(`${key} must be an integer >= ${min}, got ${String(flat[key])}`);
    if (value > max) throw new ConfigError(`${key} must be at most ${max}, got ${value}`);
    return value;
  };
  const config: NodeConfig = {
    nodeId: String(pick("nodeId", d.nodeId)),
    host: String(pick("host", d.host)),
    port: integer("port", d.port, 0),
    dataDir: String(pick("dataDir", d.dataDir)),
    peerHost: String(pick("peerHost", pick("host", d.peerHost))),
    peerPort: 0,
    initialCluster: parseInitialCluster(String(pick("initialCluster", ""))),
    join: String(pick("join", "")),
    advertiseClient: String(pick("advertiseClient", "")),
    advertisePeer: String(pick("advertisePeer", "")),
    peerSecret: readSecret(flat),
    peerDial: parsePeerDial(String(pick("peerDial", ""))),
    clientDial: parsePeerDial(String(pick("clientDial", "")), "--client-dial"),
    shards: integer("shards", d.shards),
    replicas: integer("replicas", d.replicas, 0),
    raftTickMs: integer("raftTickMs", d.raftTickMs),
    electionTicks: integer("electionTicks", d.electionTicks, 2),
    operationTimeoutMs: integer("operationTimeoutMs", d.operationTimeoutMs),
    readStampLagMsMax: integer("readStampLagMsMax", d.readStampLagMsMax, 1, READ_STAMP_LAG_MS_CEILING),
    snapshotEntries: integer("snapshotEntries", d.snapshotEntries),
    snapshotBytes: byteCount(flat, "snapshotBytes", d.snapshotBytes),
    logLevel: String(pick("logLevel", d.logLevel)),
    evictionPolicy: pick("evictionPolicy", d.evictionPolicy),
    entriesMax: integer("entriesMax", d.entriesMax),
    bytesMax: integer("bytesMax", d.bytesMax),
    limits: resolveLimits(integer),
    idleEntryIntervalMs: integer("idleEntryIntervalMs", integer("tickIntervalMs", d.idleEntryIntervalMs)),
    accessHintIntervalMs: integer("accessHintIntervalMs", d.accessHintIntervalMs),
    accessHintKeysMax: integer("accessHintKeysMax", d.accessHintKeysMax),
    shutdownGraceMs: integer("shutdownGraceMs", d.shutdownGraceMs, 0),
    fastPath: pick("fastPath", d.fastPath) !== false,
    leaderBalance: pick("leaderBalance", d.leaderBalance) !== false,
    firstBytesTimeoutMs: timerMs("firstBytesTimeoutMs", integer("firstBytesTimeoutMs", d.firstBytesTimeoutMs)),
    headersTimeoutMs: timerMs("headersTimeoutMs", integer("headersTimeoutMs", d.headersTimeoutMs)),
    bodyTimeoutMs: timerMs("bodyTimeoutMs", integer("bodyTimeoutMs", d.bodyTimeoutMs)),
    connectionsMax: integer("connectionsMax", d.connectionsMax),
    h2StreamsMax: integer("h2StreamsMax", d.h2StreamsMax),
    idleTimeoutMs: timerMs("idleTimeoutMs", integer("idleTimeoutMs", d.idleTimeoutMs)),
    inflightRequestsMax: integer("inflightRequestsMax", d.inflightRequestsMax),
    streamsMax: integer("streamsMax", d.streamsMax),
    connectionStreamsMax: integer("connectionStreamsMax", d.connectionStreamsMax),
    streamProgressMs: integer("streamProgressMs", d.streamProgressMs, 1, STREAM_PROGRESS_MS_MAX),
    streamQueueMax: integer("streamQueueMax", d.streamQueueMax),
    streamQueueBytes: integer("streamQueueBytes", d.streamQueueBytes),
    watchersMax: integer("watchersMax", d.watchersMax),
    connectionWatchersMax: integer("connectionWatchersMax", d.connectionWatchersMax),
    watchHistoryEvents: integer("watchHistoryEvents", d.watchHistoryEvents),
    watchHistoryBytes: integer("watchHistoryBytes", d.watchHistoryBytes),
    testing: resolveTestingSwitches(flat),
  };
  config.peerPort = flat["peerPort"] === undefined ? (config.port === 0 ? 0 : config.port + 100) : integer("peerPort", 0, 0);
  adoptOwnEntry(config, flat);
  validate(config);
  return config;
}

/** The request limits, from the merged options. */
function resolveLimits(integer: (key: string, fallback: number) => number): NodeConfig["limits"] {
  const d = DEFAULT_CONFIG.limits;
  return {
    keyBytesMax: integer("keyBytesMax", d.keyBytesMax),
    valueBytesMax: integer("valueBytesMax", d.valueBytesMax),
    batchKeysMax: integer("batchKeysMax", d.batchKeysMax),
    requestBytesMax: integer("requestBytesMax", d.requestBytesMax),
    responseBytesMax: integer("responseBytesMax", d.responseBytesMax),
    ttlMsMax: integer("ttlMsMax", d.ttlMsMax),
  };
}

/** A byte count from the merged options: a number (flags parse theirs), or a string such as "64MiB" from a config file. */
function byteCount(flat: Flat, key: string, fallback: number): number {
  const raw = flat[key];
  if (raw === undefined) return fallback;
  const value = typeof raw === "number" ? raw : typeof raw === "string" ? parseByteCount(raw) : undefined;
  if (value === undefined || !Number.isSafeInteger(value) || value < 1 || value > BYTE_COUNT_MAX) {
    throw new ConfigError(`${key} must be a byte count in [1, ${BYTE_COUNT_MAX}] (an integer, or with a suffix such as 64MiB), got ${JSON.stringify(raw)}`);
  }
  return value;
}

function readSecret(flat: Flat): string {
  const file = flat["peerSecretFile"];
  if (typeof file !== "string") return String(flat["peerSecret"] ?? "");
  try {
    return readFileSync(file, "utf8").trim();
  } catch (err) {
    throw new ConfigError(`cannot read peer secret file ${file}: ${(err as Error).message}`);
  }
}

/** A node listens where --initial-cluster says it is; conflicting flags are an error. */
function adoptOwnEntry(config: NodeConfig, flat: Flat): void {
  if (config.initialCluster.length === 0) return;
  const own = config.initialCluster.find((m) => m.id === config.nodeId);
  if (!own) throw new ConfigError(`node id "${config.nodeId}" is not in --initial-cluster (${config.initialCluster.map((m) => m.id).join(", ")})`);
  const [clientHost, clientPort] = splitHostPort(own.clientAddress);
  const [peerHost, peerPort] = splitHostPort(own.peerAddress);
  const conflict = (key: string, value: string | number) => flat[key] !== undefined && String(flat[key]) !== String(value);
  if (conflict("port", clientPort) || conflict("peerPort", peerPort)) {
    throw new ConfigError(`--port/--peer-port disagree with this node's --initial-cluster entry ${own.clientAddress}/${own.peerAddress}`);
  }
  for (const [flag, overrides] of [["--peer-dial", config.peerDial] as const, ["--client-dial", config.clientDial] as const]) {
    const unknown = [...overrides.keys()].filter((id) => !config.initialCluster.some((m) => m.id === id));
    if (unknown.length > 0) throw new ConfigError(`${flag} names ${unknown.join(", ")}, not in --initial-cluster`);
  }
  config.host = flat["host"] === undefined ? clientHost : config.host;
  config.port = clientPort;
  config.peerHost = flat["peerHost"] === undefined ? peerHost : config.peerHost;
  config.peerPort = peerPort;
}

function splitHostPort(address: string): [string, number] {
  const i = address.lastIndexOf(":");
  return [address.slice(0, i).replace(/^\[|\]$/g, ""), Number(address.slice(i + 1))];
}

/** --join, and the addresses a joining node advertises. */
function validateJoin(config: NodeConfig): void {
  for (const [flag, address] of [["--advertise-client", config.advertiseClient] as const, ["--advertise-peer", config.advertisePeer] as const]) {
    if (address && !isHostPort(address)) {
      throw new ConfigError(`${flag} must be host:port with a port in 1-65535, got "${address}"`);
    }
  }
  if (!config.join) return;
  let url: URL;
  try {
    url = new URL(config.join);
  } catch {
    throw new ConfigError(`--join must be a node's client URL such as http://127.0.0.1:7301, got "${config.join}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConfigError(`--join must be an http:// or https:// URL, got "${config.join}"`);
  if (config.initialCluster.length > 0) {
    throw new ConfigError("--join and --initial-cluster exclude each other: a joining node learns the cluster from the node it joins through");
  }
  if (config.peerSecret.length < 16) throw new ConfigError("--join needs the cluster's --peer-secret (or --peer-secret-file), of at least 16 characters");
  if (config.port === 0 && !config.advertiseClient)
    throw new ConfigError("--join with --port 0 needs --advertise-client: other nodes must know where to reach it");
  if (config.peerPort === 0 && !config.advertisePeer)
    throw new ConfigError("--join with --peer-port 0 needs --advertise-peer: other nodes must know where to reach it");
}

/** Each configured request limit may only lower the protocol's ceiling (what apply accepts on every replica). */
function validateCeilings(limits: Limits): void {
  const ceilings: [keyof Limits, string, number][] = [
    ["keyBytesMax", "key-bytes-max", PROTOCOL_LIMITS.keyBytesMax],
    ["valueBytesMax", "value-bytes-max", PROTOCOL_LIMITS.valueBytesMax],
    ["batchKeysMax", "batch-keys-max", PROTOCOL_LIMITS.batchItemsMax],
    ["ttlMsMax", "ttl-ms-max", PROTOCOL_LIMITS.ttlMsMax],
  ];
  for (const [key, flag, ceiling] of ceilings) {
    if (limits[key] > ceiling) throw new ConfigError(`${flag} ${limits[key]} is above the largest the cluster accepts (${ceiling})`);
  }
}

function validate(config: NodeConfig): void {
  validateCeilings(config.limits);
  if (config.accessHintKeysMax > PROTOCOL_LIMITS.accessHintKeysMax) {
    throw new ConfigError(`access-hint-keys-max ${config.accessHintKeysMax} is above the largest the cluster accepts (${PROTOCOL_LIMITS.accessHintKeysMax})`);
  }
  if (!NODE_ID_PATTERN.test(config.nodeId)) throw new ConfigError(`node id must be 1-64 of [A-Za-z0-9_.-], got "${config.nodeId}"`);
  if (!POLICIES.includes(config.evictionPolicy)) throw new ConfigError(`eviction policy must be one of ${POLICIES.join(", ")}, got "${config.evictionPolicy}"`);
  if (config.port > 65535) throw new ConfigError(`port must be at most 65535, got ${config.port}`);
  validateJoin(config);
  if (config.initialCluster.length > 1 && config.peerSecret.length < 16) {
    throw new ConfigError("a cluster of several nodes needs --peer-secret (or --peer-secret-file) of at least 16 characters");
  }
  const members = Math.max(1, config.initialCluster.length);
  if (!config.join && config.replicas > members) throw new ConfigError(`replicas (${config.replicas}) cannot exceed the number of members (${members})`);
  const shardBytesMax = Math.floor(config.bytesMax / config.shards);
  const largestEntry = config.limits.keyBytesMax + config.limits.valueBytesMax + ENTRY_MEMORY_OVERHEAD_BYTES;
  if (largestEntry > shardBytesMax) {
    throw new ConfigError(
      `bytes-max ${config.bytesMax} gives each of ${config.shards} shards ${shardBytesMax} bytes, ` +
        `less than one largest entry (${largestEntry} bytes); raise --bytes-max or lower --value-bytes-max`,
    );
  }
  if (config.entriesMax < config.shards) throw new ConfigError(`entries-max must be at least the number of shards (${config.shards})`);
  if (config.limits.requestBytesMax < config.limits.valueBytesMax + config.limits.keyBytesMax) {
    throw new ConfigError("request-bytes-max must be at least key-bytes-max + value-bytes-max");
  }
  if (config.limits.responseBytesMax < config.limits.valueBytesMax + config.limits.keyBytesMax) {
    throw new ConfigError("response-bytes-max must be at least key-bytes-max + value-bytes-max (one entry must fit an answer)");
  }
}

export function helpText(): string {
  return buildCommand().helpInformation();
}
