import { PROTOCOL_LIMITS } from "@distcache/proto/limits";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, resolveConfig } from "./config.js";

// A configured request limit may only lower what apply accepts on every replica: a
// larger one would let a client's request through to a command apply must refuse.
describe("config ceilings", () => {
  it.each([
    ["keyBytesMax", PROTOCOL_LIMITS.keyBytesMax + 1, /key-bytes-max/],
    ["valueBytesMax", PROTOCOL_LIMITS.valueBytesMax + 1, /value-bytes-max/],
    ["batchKeysMax", PROTOCOL_LIMITS.batchItemsMax + 1, /batch-keys-max/],
    ["ttlMsMax", PROTOCOL_LIMITS.ttlMsMax + 1, /ttl-ms-max/],
    ["accessHintKeysMax", PROTOCOL_LIMITS.accessHintKeysMax + 1, /access-hint-keys-max/],
  ])("refuses %s above the protocol's ceiling", (key, value, message) => {
    expect(() => resolveConfig({ [key]: value, bytesMax: 2 ** 40, requestBytesMax: 2 ** 30 })).toThrow(ConfigError);
    expect(() => resolveConfig({ [key]: value, bytesMax: 2 ** 40, requestBytesMax: 2 ** 30 })).toThrow(message);
  });

  it("accepts each limit at its ceiling", () => {
    const config = resolveConfig({ keyBytesMax: PROTOCOL_LIMITS.keyBytesMax, ttlMsMax: PROTOCOL_LIMITS.ttlMsMax, batchKeysMax: PROTOCOL_LIMITS.batchItemsMax });
    expect(config.limits.ttlMsMax).toBe(PROTOCOL_LIMITS.ttlMsMax);
  });

  it("refuses a huge ttlMsMax from a config file", () => {
    const dir = mkdtempSync(join(tmpdir(), "distcache-config-"));
    try {
      const file = join(dir, "config.json");
      writeFileSync(file, JSON.stringify({ ttlMsMax: 9e15 }));
      expect(() => parseConfig(["--config", file])).toThrow(/ttl-ms-max 9000000000000000 is above the largest the cluster accepts/);
      expect(parseConfig(["--ttl-ms-max", "60000"]).limits.ttlMsMax).toBe(60_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
