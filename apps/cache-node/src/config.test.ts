import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_CONFIG, helpText, parseConfig } from "./config.js";

const saved = { ...process.env };
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

  it("documents every option in --help", () => {
    const help = helpText();
    for (const flag of ["--node-id", "--port", "--data-dir", "--shards", "--eviction-policy", "--value-bytes-max", "--config"]) expect(help).toContain(flag);
  });
});
