import { EvictionPolicy } from "@distcache/proto";
import { PROTOCOL_LIMITS } from "@distcache/proto/limits";
import { ENTRY_MEMORY_OVERHEAD_BYTES } from "@distcache/store";
import { describe, expect, it } from "vitest";
import { flagSettings, ignoredFlagMessages, validateSettingsChange } from "./store-settings.js";

const limits = { keyBytesMax: 1024, valueBytesMax: 10_000 };
const floor = 1024 + 10_000 + ENTRY_MEMORY_OVERHEAD_BYTES;
const request = (over: Partial<{ policy: number; entriesMax: bigint; bytesMax: bigint }> = {}) => ({
  policy: EvictionPolicy.UNSPECIFIED,
  entriesMax: 0n,
  bytesMax: 0n,
  ...over,
});

describe("ConfigureStore edge validation", () => {
  it("keeps every setting a request leaves at zero or unspecified", () => {
    expect(validateSettingsChange(request(), limits)).toEqual({ ok: true, change: {} });
  });

  it("takes known policies and bounds within range", () => {
    expect(validateSettingsChange(request({ policy: EvictionPolicy.LFU, entriesMax: 1n, bytesMax: BigInt(floor) }), limits)).toEqual({
      ok: true,
      change: { policy: "lfu", entriesMax: 1, bytesMax: floor },
    });
    const max = BigInt(PROTOCOL_LIMITS.storeBoundMax);
    expect(validateSettingsChange(request({ entriesMax: max, bytesMax: max }), limits)).toMatchObject({ ok: true });
  });

  it("refuses an unknown policy number", () => {
    expect(validateSettingsChange(request({ policy: 9 }), limits)).toEqual({
      ok: false,
      message: expect.stringMatching(/policy 9 is not a known eviction policy/),
    });
  });

  it("refuses a bytes_max below one largest entry, naming the minimum", () => {
    const result = validateSettingsChange(request({ bytesMax: BigInt(floor - 1) }), limits);
    expect(result).toEqual({ ok: false, message: expect.stringContaining(`bytes_max must be at least ${floor}`) });
  });

  it("refuses bounds above the protocol's ceiling", () => {
    const above = BigInt(PROTOCOL_LIMITS.storeBoundMax) + 1n;
    expect(validateSettingsChange(request({ entriesMax: above }), limits)).toMatchObject({
      ok: false,
      message: expect.stringMatching(/entries_max must be at most/),
    });
    expect(validateSettingsChange(request({ bytesMax: above }), limits)).toMatchObject({
      ok: false,
      message: expect.stringMatching(/bytes_max must be at most/),
    });
  });
});

describe("ignored flags", () => {
  const config = { evictionPolicy: "lfu" as const, entriesMax: 400, bytesMax: 4_000_000, shards: 2 };

  it("names nothing when the shards use what the flags ask for", () => {
    const settings = flagSettings(config);
    expect(
      ignoredFlagMessages(config, [
        { shard: 0, settings },
        { shard: 1, settings },
      ]),
    ).toEqual([]);
  });

  it("names each flag the shards' replicated settings override", () => {
    const settings = { policy: "lru" as const, entriesMax: 20, bytesMax: 2_000_000 };
    const messages = ignoredFlagMessages(config, [
      { shard: 0, settings },
      { shard: 1, settings },
    ]);
    expect(messages).toEqual([
      "--eviction-policy lfu ignored: shards 0, 1 use lru (set through the log; change with distcache configure)",
      "--entries-max 400 ignored: shards 0, 1 use 20 entries per shard, not 200 (set through the log; change with distcache configure)",
    ]);
  });
});
