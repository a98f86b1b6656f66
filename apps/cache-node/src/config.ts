import { readFileSync } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";

export type EvictionPolicyName = "lru" | "lfu" | "fifo" | "random";

/** Every bound the node enforces; each has a default and a clear error when exceeded (DESIGN invariant 6). */
export interface Limits {
  keyBytesMax: number;
  valueBytesMax: number;
  batchKeysMax: number;
  requestBytesMax: number;
  ttlMsMax: number;
}

export interface NodeConfig {
  nodeId: string;
  host: string;
  port: number;
  dataDir: string;
  shards: number;
  logLevel: string;
  evictionPolicy: EvictionPolicyName;
  /** Bounds of the whole node; each shard gets an equal share. */
  entriesMax: number;
  bytesMax: number;
  limits: Limits;
  /** How often an idle shard proposes an empty entry to carry time forward and sweep expired keys. */
  tickIntervalMs: number;
  /** How often read samples are proposed as access hints for recency and frequency. */
  accessHintIntervalMs: number;
  accessHintKeysMax: number;
  shutdownGraceMs: number;
  /** Serve unary Connect calls through the lean handler (same behaviour, less overhead). */
  fastPath: boolean;
}

export const DEFAULT_CONFIG: NodeConfig = {
  nodeId: "n1",
  host: "127.0.0.1",
  port: 7301,
  dataDir: "./.data/n1",
  shards: 12,
  logLevel: "info",
  evictionPolicy: "lru",
  entriesMax: 1_000_000,
  bytesMax: 256 * 1024 * 1024,
  limits: {
    keyBytesMax: 1024,
    valueBytesMax: 1024 * 1024,
    batchKeysMax: 1000,
    requestBytesMax: 4 * 1024 * 1024,
    ttlMsMax: 365 * 24 * 3600 * 1000,
  },
  tickIntervalMs: 1000,
  accessHintIntervalMs: 200,
  accessHintKeysMax: 1024,
  shutdownGraceMs: 5000,
  fastPath: true,
};

const POLICIES: readonly EvictionPolicyName[] = ["lru", "lfu", "fifo", "random"];

/** Environment variables that set each option, so containers can be configured without flags. */
const ENV: Record<string, string> = {
  nodeId: "DISTCACHE_NODE_ID",
  host: "DISTCACHE_HOST",
  port: "DISTCACHE_PORT",
  dataDir: "DISTCACHE_DATA_DIR",
  shards: "DISTCACHE_SHARDS",
  logLevel: "DISTCACHE_LOG_LEVEL",
  evictionPolicy: "DISTCACHE_EVICTION_POLICY",
  entriesMax: "DISTCACHE_ENTRIES_MAX",
  bytesMax: "DISTCACHE_BYTES_MAX",
  keyBytesMax: "DISTCACHE_KEY_BYTES_MAX",
  valueBytesMax: "DISTCACHE_VALUE_BYTES_MAX",
  batchKeysMax: "DISTCACHE_BATCH_KEYS_MAX",
  requestBytesMax: "DISTCACHE_REQUEST_BYTES_MAX",
};

export class ConfigError extends Error {
  override name = "ConfigError";
}

function positiveInt(name: string, min = 1, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max}], got "${raw}"`);
    }
    return value;
  };
}

function buildCommand(): Command {
  const d = DEFAULT_CONFIG;
  const opt = (flags: string, description: string, key: string, parse?: (raw: string) => unknown) => {
    const option = new Option(flags, description);
    if (ENV[key]) option.env(ENV[key]);
    if (parse) option.argParser(parse as (raw: string, prev: unknown) => unknown);
    return option;
  };
  return new Command("cache-node")
    .description("distcache server node: serves CacheService and ClusterService on one port (Connect, gRPC, gRPC-Web; HTTP/1.1 and h2c).")
    .addOption(opt("--config <file>", "JSON file with any of the options below (flags and env override it)", "config"))
    .addOption(opt("--node-id <id>", `node id (default "${d.nodeId}")`, "nodeId"))
    .addOption(opt("--host <host>", `client address to listen on (default ${d.host})`, "host"))
    .addOption(opt("--port <port>", `client port; 0 picks a free one (default ${d.port})`, "port", positiveInt("--port", 0, 65535)))
    .addOption(opt("--data-dir <dir>", `directory for the command log (default ${d.dataDir})`, "dataDir"))
    .addOption(opt("--shards <n>", `number of shards, fixed at bootstrap (default ${d.shards})`, "shards", positiveInt("--shards", 1, 4096)))
    .addOption(opt("--log-level <level>", `pino log level (default ${d.logLevel})`, "logLevel"))
    .addOption(opt("--eviction-policy <policy>", `lru | lfu | fifo | random (default ${d.evictionPolicy})`, "evictionPolicy"))
    .addOption(opt("--entries-max <n>", `max keys on the node (default ${d.entriesMax})`, "entriesMax", positiveInt("--entries-max")))
    .addOption(opt("--bytes-max <n>", `max accounted bytes on the node (default ${d.bytesMax})`, "bytesMax", positiveInt("--bytes-max")))
    .addOption(opt("--key-bytes-max <n>", `max key size in UTF-8 bytes (default ${d.limits.keyBytesMax})`, "keyBytesMax", positiveInt("--key-bytes-max")))
    .addOption(opt("--value-bytes-max <n>", `max value size (default ${d.limits.valueBytesMax})`, "valueBytesMax", positiveInt("--value-bytes-max")))
    .addOption(opt("--batch-keys-max <n>", `max keys in one MGet/MSet/MDelete (default ${d.limits.batchKeysMax})`, "batchKeysMax", positiveInt("--batch-keys-max")))
    .addOption(opt("--request-bytes-max <n>", `max request body (default ${d.limits.requestBytesMax})`, "requestBytesMax", positiveInt("--request-bytes-max")))
    .addOption(opt("--no-fast-path", "serve every call through the stock Connect handler", "fastPath"))
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
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
  const merged: Flat = { ...file, ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) };
  return resolveConfig(merged);
}

/** Builds a validated config from a flat object of overrides (used by tests and scripts too). */
export function resolveConfig(flat: Flat): NodeConfig {
  const d = DEFAULT_CONFIG;
  const pick = <T>(key: string, fallback: T): T => (flat[key] === undefined ? fallback : (flat[key] as T));
  const num = (key: string, fallback: number, min = 1): number => {
    const value = Number(pick(key, fallback));
    if (!Number.isSafeInteger(value) || value < min) throw new ConfigError(`${key} must be an integer >= ${min}, got ${String(flat[key])}`);
    return value;
  };
  const config: NodeConfig = {
    nodeId: String(pick("nodeId", d.nodeId)),
    host: String(pick("host", d.host)),
    port: num("port", d.port, 0),
    dataDir: String(pick("dataDir", d.dataDir)),
    shards: num("shards", d.shards),
    logLevel: String(pick("logLevel", d.logLevel)),
    evictionPolicy: pick("evictionPolicy", d.evictionPolicy),
    entriesMax: num("entriesMax", d.entriesMax),
    bytesMax: num("bytesMax", d.bytesMax),
    limits: {
      keyBytesMax: num("keyBytesMax", d.limits.keyBytesMax),
      valueBytesMax: num("valueBytesMax", d.limits.valueBytesMax),
      batchKeysMax: num("batchKeysMax", d.limits.batchKeysMax),
      requestBytesMax: num("requestBytesMax", d.limits.requestBytesMax),
      ttlMsMax: num("ttlMsMax", d.limits.ttlMsMax),
    },
    tickIntervalMs: num("tickIntervalMs", d.tickIntervalMs),
    accessHintIntervalMs: num("accessHintIntervalMs", d.accessHintIntervalMs),
    accessHintKeysMax: num("accessHintKeysMax", d.accessHintKeysMax),
    shutdownGraceMs: num("shutdownGraceMs", d.shutdownGraceMs, 0),
    fastPath: pick("fastPath", d.fastPath) !== false,
  };
  validate(config);
  return config;
}

function validate(config: NodeConfig): void {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(config.nodeId)) throw new ConfigError(`node id must be 1-64 of [A-Za-z0-9_.-], got "${config.nodeId}"`);
  if (!POLICIES.includes(config.evictionPolicy)) throw new ConfigError(`eviction policy must be one of ${POLICIES.join(", ")}, got "${config.evictionPolicy}"`);
  if (config.port > 65535) throw new ConfigError(`port must be at most 65535, got ${config.port}`);
  const shardBytesMax = Math.floor(config.bytesMax / config.shards);
  const largestEntry = config.limits.keyBytesMax + config.limits.valueBytesMax + 256;
  if (largestEntry > shardBytesMax) {
    throw new ConfigError(
      `bytes-max ${config.bytesMax} gives each of ${config.shards} shards ${shardBytesMax} bytes, less than one largest entry (${largestEntry} bytes); raise --bytes-max or lower --value-bytes-max`,
    );
  }
  if (config.entriesMax < config.shards) throw new ConfigError(`entries-max must be at least the number of shards (${config.shards})`);
  if (config.limits.requestBytesMax < config.limits.valueBytesMax + config.limits.keyBytesMax) {
    throw new ConfigError("request-bytes-max must be at least key-bytes-max + value-bytes-max");
  }
}

export function helpText(): string {
  return buildCommand().helpInformation();
}
