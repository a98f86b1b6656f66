import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_CONFIG, helpText, parseByteCount, parseConfig, resolveConfig } from "./config.js";

const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
});

describe("--snapshot-bytes", () => {
  it("defaults to 64 MiB and is in the help", () => {
    expect(DEFAULT_CONFIG.snapshotBytes).toBe(64 * 1024 * 1024);
    expect(parseConfig([]).snapshotBytes).toBe(64 * 1024 * 1024);
    expect(helpText()).toContain("--snapshot-bytes <n>");
  });

  it("reads byte counts with or without a binary suffix", () => {
    expect(parseByteCount("16777216")).toBe(16 * 1024 * 1024);
    expect(parseByteCount("64MiB")).toBe(64 * 1024 * 1024);
    expect(parseByteCount("64 mib")).toBe(64 * 1024 * 1024);
    expect(parseByteCount("512KiB")).toBe(512 * 1024);
    expect(parseByteCount("2GiB")).toBe(2 * 1024 ** 3);
    expect(parseByteCount("1TiB")).toBe(1024 ** 4);
    expect(parseByteCount("100B")).toBe(100);
    for (const bad of ["", "MiB", "-1", "1.5MiB", "64MB", "64M", "0x10", "1e6", "9999999999999999999"]) expect(parseByteCount(bad)).toBeUndefined();
  });

  it("comes from the flag, the environment or the config file (flags win over the environment, which wins over the file)", () => {
    const dir = mkdtempSync(join(tmpdir(), "distcache-config-"));
    try {
      const file = join(dir, "node.json");
      writeFileSync(file, JSON.stringify({ snapshotBytes: "8MiB" }));
      expect(parseConfig(["--config", file]).snapshotBytes).toBe(8 * 1024 * 1024);
      writeFileSync(file, JSON.stringify({ snapshotBytes: 4096 }));
      expect(parseConfig(["--config", file]).snapshotBytes).toBe(4096);
      process.env["DISTCACHE_SNAPSHOT_BYTES"] = "32MiB";
      expect(parseConfig(["--config", file]).snapshotBytes).toBe(32 * 1024 * 1024);
      expect(parseConfig(["--config", file, "--snapshot-bytes", "16777216"]).snapshotBytes).toBe(16 * 1024 * 1024);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses what is not a positive byte count", () => {
    expect(() => parseConfig(["--snapshot-bytes", "0"])).toThrow(/--snapshot-bytes must be a byte count/);
    expect(() => parseConfig(["--snapshot-bytes", "lots"])).toThrow(/--snapshot-bytes must be a byte count/);
    expect(() => parseConfig(["--snapshot-bytes", "2PiB"])).toThrow(/--snapshot-bytes must be a byte count/);
    expect(() => resolveConfig({ snapshotBytes: "64 megabytes" })).toThrow(ConfigError);
    expect(() => resolveConfig({ snapshotBytes: 0 })).toThrow(/snapshotBytes must be a byte count/);
    expect(() => resolveConfig({ snapshotBytes: 1.5 })).toThrow(ConfigError);
    expect(() => resolveConfig({ snapshotBytes: true })).toThrow(ConfigError);
  });
});
