import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_CONFIG, helpText, parseConfig, resolveConfig } from "./config.js";

const saved = { ...process.env };

/** The client port's bounds, each a positive integer flag. */
const CLIENT_PORT_FLAGS = [
  "--first-bytes-timeout-ms",
  "--headers-timeout-ms",
  "--body-timeout-ms",
  "--connections-max",
  "--h2-streams-max",
  "--idle-timeout-ms",
  "--inflight-requests-max",
  "--streams-max",
  "--connection-streams-max",
  "--stream-progress-ms",
  "--stream-queue-max",
];
afterEach(() => {
  process.env = { ...saved };
});

describe("config", () => {
  it("has sane defaults", () => {
    const config = parseConfig([]);
    expect(config).toEqual(DEFAULT_CONFIG);
  });

  it("layers file < env < flags", () => {
    const dir = mkdtempSync(join(tmpdir(), "distcache-config-"));
    try {
      const file = join(dir, "node.json");
      writeFileSync(file, JSON.stringify({ nodeId: "from-file", port: 9000, shards: 6, valueBytesMax: 2048 }));
      process.env["DISTCACHE_PORT"] = "9100";
      const config = parseConfig(["--config", file, "--shards", "8"]);
      expect(config).toMatchObject({ nodeId: "from-file", port: 9100, shards: 8 });
      expect(config.limits.valueBytesMax).toBe(2048);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [["--eviction-policy", "mru"], /eviction policy must be one of/],
    [["--node-id", "bad id"], /node id/],
    [["--bytes-max", "1000"], /raise --bytes-max/],
    [["--config", "/nonexistent/file.json"], /cannot read config file/],
  ])("rejects %j", (argv, message) => {
    expect(() => parseConfig(argv)).toThrow(ConfigError);
    expect(() => parseConfig(argv)).toThrow(message);
  });

  it("rejects malformed numbers from flags", () => {
    expect(() => parseConfig(["--port", "70000"])).toThrow(/--port must be an integer/);
    expect(() => parseConfig(["--shards", "abc"])).toThrow(/--shards must be an integer/);
  });

  it("sets the client-port bounds from the file, the environment and flags", () => {
    const dir = mkdtempSync(join(tmpdir(), "distcache-config-"));
    try {
      const file = join(dir, "node.json");
      writeFileSync(file, JSON.stringify({ firstBytesTimeoutMs: 1500, connectionsMax: 50, h2StreamsMax: 8 }));
      process.env["DISTCACHE_HEADERS_TIMEOUT_MS"] = "2500";
      process.env["DISTCACHE_INFLIGHT_REQUESTS_MAX"] = "64";
      process.env["DISTCACHE_CONNECTIONS_MAX"] = "60";
      const config = parseConfig(["--config", file, "--body-timeout-ms", "4000", "--connections-max", "70"]);
      expect(config).toMatchObject({
        firstBytesTimeoutMs: 1500,
        headersTimeoutMs: 2500,
        bodyTimeoutMs: 4000,
        connectionsMax: 70,
        h2StreamsMax: 8,
        inflightRequestsMax: 64,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("balances leaders unless --no-leader-balance", () => {
    expect(parseConfig([]).leaderBalance).toBe(true);
    expect(parseConfig(["--no-leader-balance"]).leaderBalance).toBe(false);
  });

  it("defaults the client-port bounds", () => {
    expect(parseConfig([])).toMatchObject({
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
    });
  });

  it.each(CLIENT_PORT_FLAGS)("rejects a zero or malformed %s", (flag) => {
    expect(() => parseConfig([flag, "0"])).toThrow(new RegExp(`${flag} must be an integer`));
    expect(() => parseConfig([flag, "1.5"])).toThrow(new RegExp(`${flag} must be an integer`));
  });

  it("rejects a zero bound, or a deadline too long for a timer, from the config file", () => {
    expect(() => resolveConfig({ inflightRequestsMax: 0 })).toThrow(/inflightRequestsMax must be an integer >= 1/);
    expect(() => resolveConfig({ bodyTimeoutMs: 2 ** 31 })).toThrow(/bodyTimeoutMs must be at most 2147483647/);
    expect(() => parseConfig(["--first-bytes-timeout-ms", String(2 ** 31)])).toThrow(/--first-bytes-timeout-ms must be an integer in \[1, 2147483647\]/);
  });

  it("keeps stream progress within the 15 s after which clients take a silent stream for dead", () => {
    expect(parseConfig(["--stream-progress-ms", "10000"]).streamProgressMs).toBe(10_000);
    expect(() => parseConfig(["--stream-progress-ms", "10001"])).toThrow(/--stream-progress-ms must be an integer in \[1, 10000\]/);
    expect(() => resolveConfig({ streamProgressMs: 20_000 })).toThrow(/streamProgressMs must be at most 10000, got 20000/);
  });

  it("reads the idle entry interval from idleEntryIntervalMs, or from its earlier key tickIntervalMs", () => {
    expect(resolveConfig({}).idleEntryIntervalMs).toBe(1000);
    expect(resolveConfig({ idleEntryIntervalMs: 250 }).idleEntryIntervalMs).toBe(250);
    expect(resolveConfig({ tickIntervalMs: 300 }).idleEntryIntervalMs).toBe(300);
    expect(resolveConfig({ tickIntervalMs: 300, idleEntryIntervalMs: 250 }).idleEntryIntervalMs).toBe(250);
    // It is not the Raft tick (raftTickMs).
    expect(resolveConfig({ tickIntervalMs: 300 }).raftTickMs).toBe(50);
  });

  it("documents every option in --help", () => {
    const help = helpText();
    for (const flag of ["--node-id", "--port", "--data-dir", "--shards", "--eviction-policy", "--value-bytes-max", "--config"]) expect(help).toContain(flag);
    for (const flag of CLIENT_PORT_FLAGS) expect(help).toContain(flag);
  });
});
